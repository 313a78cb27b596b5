// Two stack viewports side by side with one tool group and the synchronizers that link
// them. Pages build on this: the reading page (sides A and B) and the case viewer.
import { Enums, RenderingEngine, type StackViewport, type Types } from "@cornerstonejs/core";
import {
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
} from "@cornerstonejs/tools";
import { el } from "./dom";
import { imageIdOf, initCornerstone } from "./init";
import { loadStacks, type LoadProgress } from "./loading";
import { ViewportOverlay } from "./overlay";
import {
  defaultPreset,
  voiRangeOf,
  windowLevelOf,
  type WindowConfig,
  type WindowLevel,
  type WindowPreset,
} from "./presets";
import { createPairSynchronizers, type PairSynchronizers } from "./sync";

export interface SideSpec {
  /** Short name used in logs and messages ("A", "Original"). */
  key: string;
  /** Accessible name of the viewport's region ("Viewport A"). */
  regionName: string;
  /** Text of the overlay's label. */
  label: string;
  images: string[];
}

/** What the reader did to the views, as the reading log records it. */
export type ViewEvent =
  | { kind: "slice"; side: string; index: number }
  | { kind: "voi"; side: string; width: number; center: number }
  | { kind: "zoom"; side: string; zoom: number }
  | { kind: "pan"; side: string }
  | { kind: "preset"; key: string }
  | { kind: "link"; linked: boolean }
  | { kind: "reset" };

interface Side {
  spec: SideSpec;
  index: number;
  region: HTMLElement;
  element: HTMLDivElement;
  overlay: ViewportOverlay;
  viewportId: string;
  imageIds: string[];
  /** A window this side keeps whatever the presets do (the difference images). */
  fixedWindow: WindowLevel | null;
  baseZoom: number;
  lastZoom: number;
  lastPan: Types.Point2;
}

// Relative changes below these are rounding noise of the camera, not a reader's action.
const ZOOM_EPSILON = 1e-3;
const PAN_EPSILON = 0.5;

let pairsCreated = 0;

export class ViewerPair extends EventTarget {
  readonly window: WindowConfig;
  readonly sides: Side[];
  private readonly engine: RenderingEngine;
  private readonly syncs: PairSynchronizers;
  private linkedState = true;
  private activeIndex = 0;
  private preset: WindowPreset;
  /** False once the reader drags the window away from the last preset. */
  private presetInForce = true;
  private recording = false;
  /** Above zero while the code itself changes the views; those changes are not the reader's. */
  private quiet = 0;
  private loadedPromise: Promise<LoadProgress[]> | null = null;

  constructor(host: HTMLElement, specs: [SideSpec, SideSpec], windowConfig: WindowConfig) {
    super();
    initCornerstone();
    this.window = windowConfig;
    this.preset = defaultPreset(windowConfig);
    const prefix = `pair-${++pairsCreated}`;
    this.engine = new RenderingEngine(`${prefix}-engine`);
    this.sides = specs.map((spec, index) => {
      const element = el("div", { class: "viewport-element" });
      const region = el(
        "div",
        { class: "viewport-region", role: "region", "aria-label": spec.regionName, tabindex: 0 },
        [element],
      );
      host.append(region);
      return {
        spec,
        index,
        region,
        element,
        overlay: new ViewportOverlay(region, spec.label, spec.key),
        viewportId: `${prefix}-viewport-${index}`,
        imageIds: spec.images.map(imageIdOf),
        fixedWindow: null,
        baseZoom: 1,
        lastZoom: 1,
        lastPan: [0, 0] as Types.Point2,
      };
    });
    this.engine.setViewports(
      this.sides.map((side) => ({
        viewportId: side.viewportId,
        type: Enums.ViewportType.STACK,
        element: side.element,
        defaultOptions: { background: [0, 0, 0] as Types.Point3 },
      })),
    );
    this.setUpTools(prefix);
    this.syncs = createPairSynchronizers(
      prefix,
      this.sides.map((side) => ({
        renderingEngineId: this.engine.id,
        viewportId: side.viewportId,
      })),
    );
    for (const side of this.sides) this.listen(side);
    this.setActive(0);
    const resize = new ResizeObserver(() => this.engine.resize(true, true));
    resize.observe(host);
  }

  get linked(): boolean {
    return this.linkedState;
  }

  get currentPreset(): WindowPreset {
    return this.preset;
  }

  /** The preset the viewports show now, or null after a manual window change. */
  get presetShown(): WindowPreset | null {
    return this.presetInForce ? this.preset : null;
  }

  /** Every image of both stacks in the cache (with counts of any that failed). */
  get loaded(): Promise<LoadProgress[]> {
    return this.loadedPromise ?? Promise.resolve([]);
  }

  /** Show the first slice of both stacks in the default window, then load the rest. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.sides.map((side) => this.viewportOf(side).setStack(side.imageIds, 0)));
    } catch {
      for (const side of this.sides)
        side.overlay.showMessage("The images could not be loaded. Reload the page to try again.");
      throw new Error("stack failed to load");
    }
    this.quiet++;
    try {
      for (const side of this.sides) {
        const viewport = this.viewportOf(side);
        viewport.resetCamera();
        side.baseZoom = viewport.getZoom() || 1;
        side.lastZoom = side.baseZoom;
        side.lastPan = viewport.getPan();
        side.overlay.setSlice(viewport.getCurrentImageIdIndex(), side.imageIds.length);
      }
      // The window synchronizer copied whichever image loaded last onto the other side; the
      // study's default window is set explicitly so both start from it.
      this.applyWindow(this.preset);
    } finally {
      this.quiet--;
    }
    this.recording = true;
    this.loadedPromise = loadStacks(
      this.sides.map((side) => side.imageIds),
      (index, progress) => this.sides[index]!.overlay.setProgress(progress),
    );
  }

  setLinked(linked: boolean): void {
    if (linked === this.linkedState) return;
    this.linkedState = linked;
    this.syncs.sliceIndex.setEnabled(linked);
    this.syncs.zoomPan.setEnabled(linked);
    this.updateWindowSync();
    if (linked) this.alignToActive();
    this.report({ kind: "link", linked });
    this.dispatchEvent(new Event("statechange"));
  }

  applyPreset(preset: WindowPreset): void {
    this.preset = preset;
    this.presetInForce = true;
    this.quiet++;
    try {
      this.applyWindow(preset);
    } finally {
      this.quiet--;
    }
    this.report({ kind: "preset", key: preset.key });
    this.dispatchEvent(new Event("statechange"));
  }

  /** Back to the whole image, centred, in the default window; the slice stays. */
  reset(): void {
    this.preset = defaultPreset(this.window);
    this.presetInForce = true;
    this.quiet++;
    try {
      for (const side of this.sides) {
        const viewport = this.viewportOf(side);
        viewport.resetCamera();
        viewport.render();
      }
      this.applyWindow(this.preset);
    } finally {
      this.quiet--;
    }
    this.report({ kind: "reset" });
    this.dispatchEvent(new Event("statechange"));
  }

  /** Move the active viewport (and with linking, both) by `delta` slices. */
  scrollBy(delta: number): void {
    const viewport = this.viewportOf(this.sides[this.activeIndex]!);
    this.scrollTo(viewport.getCurrentImageIdIndex() + delta);
  }

  scrollTo(index: number): void {
    const side = this.sides[this.activeIndex]!;
    const target = Math.max(0, Math.min(side.imageIds.length - 1, index));
    const viewport = this.viewportOf(side);
    if (target !== viewport.getCurrentImageIdIndex()) void viewport.setImageIdIndex(target);
  }

  scrollToEnd(): void {
    this.scrollTo(Number.MAX_SAFE_INTEGER);
  }

  /**
   * Show other images in one viewport (the case viewer's difference series), at the same
   * slice, zoom and pan; a `fixedWindow` keeps that viewport out of window linking.
   */
  async replaceStack(
    sideIndex: number,
    images: string[],
    label: string,
    fixedWindow: WindowLevel | null,
  ): Promise<void> {
    const side = this.sides[sideIndex]!;
    const other = this.sides[1 - sideIndex]!;
    const viewport = this.viewportOf(side);
    const otherViewport = this.viewportOf(other);
    const zoom = viewport.getZoom();
    const pan = viewport.getPan();
    const otherRange = otherViewport.getProperties().voiRange;
    const otherLevel = otherRange ? windowLevelOf(otherRange) : this.preset;
    // Unlinked while the new stack applies its header's window, which would otherwise spread
    // to the other viewport.
    this.syncs.windowLevel.setEnabled(false);
    side.fixedWindow = fixedWindow;
    side.imageIds = images.map(imageIdOf);
    side.overlay.setLabel(label);
    const index = Math.min(viewport.getCurrentImageIdIndex(), side.imageIds.length - 1);
    this.quiet++;
    try {
      await viewport.setStack(side.imageIds, Math.max(0, index));
      viewport.setZoom(zoom);
      viewport.setPan(pan);
      this.setWindow(side, fixedWindow ?? otherLevel);
      side.overlay.setSlice(viewport.getCurrentImageIdIndex(), side.imageIds.length);
    } finally {
      this.quiet--;
      this.updateWindowSync();
    }
    void loadStacks([side.imageIds], (_, progress) => side.overlay.setProgress(progress));
  }

  private setUpTools(prefix: string): void {
    const group = ToolGroupManager.createToolGroup(`${prefix}-tools`);
    if (!group) throw new Error("tool group exists already");
    for (const side of this.sides) group.addViewport(side.viewportId, this.engine.id);
    const { MouseBindings } = ToolEnums;
    if (this.window.change_allowed) {
      group.addTool(WindowLevelTool.toolName);
      group.setToolActive(WindowLevelTool.toolName, {
        bindings: [{ mouseButton: MouseBindings.Primary }],
      });
    }
    group.addTool(PanTool.toolName);
    group.addTool(ZoomTool.toolName);
    group.addTool(StackScrollTool.toolName);
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Secondary }],
    });
    group.setToolActive(StackScrollTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Wheel }],
    });
  }

  private listen(side: Side): void {
    const { element, region } = side;
    // Right drag zooms; the browser menu would cover the image.
    element.addEventListener("contextmenu", (event) => event.preventDefault());
    const activate = () => this.setActive(side.index);
    region.addEventListener("pointerdown", activate, { capture: true });
    region.addEventListener("wheel", activate, { capture: true, passive: true });
    region.addEventListener("focusin", activate);
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, ((event: CustomEvent) => {
      const index = (event.detail as { imageIdIndex: number }).imageIdIndex;
      side.overlay.setSlice(index, side.imageIds.length);
      this.report({ kind: "slice", side: side.spec.key, index }, side);
    }) as EventListener);
    element.addEventListener(Enums.Events.VOI_MODIFIED, ((event: CustomEvent) => {
      const range = (event.detail as { range?: { lower: number; upper: number } }).range;
      if (!range) return;
      const level = windowLevelOf(range);
      side.overlay.setWindow(level);
      this.report(
        {
          kind: "voi",
          side: side.spec.key,
          width: Math.round(level.width),
          center: Math.round(level.center),
        },
        side,
      );
    }) as EventListener);
    element.addEventListener(Enums.Events.CAMERA_MODIFIED, () => {
      if (!this.recording) return;
      const viewport = this.viewportOf(side);
      const zoom = viewport.getZoom();
      const pan = viewport.getPan();
      if (Math.abs(zoom - side.lastZoom) > ZOOM_EPSILON * side.baseZoom) {
        // Relative to the fitted image: CPU and GPU rendering count zoom in different units.
        const relative = Math.round((zoom / side.baseZoom) * 100) / 100;
        this.report({ kind: "zoom", side: side.spec.key, zoom: relative }, side);
      } else if (Math.hypot(pan[0] - side.lastPan[0], pan[1] - side.lastPan[1]) > PAN_EPSILON) {
        this.report({ kind: "pan", side: side.spec.key }, side);
      }
      side.lastZoom = zoom;
      side.lastPan = pan;
    });
  }

  private setActive(index: number): void {
    this.activeIndex = index;
    for (const side of this.sides) side.region.classList.toggle("is-active", side.index === index);
  }

  /**
   * Reports a change if the reader made it: with linking, the other viewport's echo of the
   * same change is not reported again.
   */
  private report(event: ViewEvent, side?: Side): void {
    if (!this.recording || this.quiet > 0) return;
    if (side && side.index !== this.activeIndex) return;
    this.dispatchEvent(new CustomEvent<ViewEvent>("view", { detail: event }));
    if (event.kind === "voi" && this.presetInForce) {
      this.presetInForce = false;
      this.dispatchEvent(new Event("statechange"));
    }
  }

  private viewportOf(side: Side): StackViewport {
    return this.engine.getViewport(side.viewportId) as StackViewport;
  }

  private setWindow(side: Side, level: WindowLevel): void {
    const viewport = this.viewportOf(side);
    viewport.setProperties({ voiRange: voiRangeOf(level) });
    viewport.render();
  }

  private applyWindow(level: WindowLevel): void {
    for (const side of this.sides) this.setWindow(side, side.fixedWindow ?? level);
  }

  private updateWindowSync(): void {
    this.syncs.windowLevel.setEnabled(
      this.linkedState && this.sides.every((side) => !side.fixedWindow),
    );
  }

  /** On linking again, the other viewport takes the active one's slice, window, zoom and pan. */
  private alignToActive(): void {
    const source = this.sides[this.activeIndex]!;
    const sourceViewport = this.viewportOf(source);
    this.quiet++;
    try {
      for (const side of this.sides) {
        if (side === source) continue;
        const viewport = this.viewportOf(side);
        viewport.setZoom(sourceViewport.getZoom());
        viewport.setPan(sourceViewport.getPan());
        const range = sourceViewport.getProperties().voiRange;
        if (range && !side.fixedWindow && !source.fixedWindow)
          this.setWindow(side, windowLevelOf(range));
        viewport.render();
        const index = Math.min(sourceViewport.getCurrentImageIdIndex(), side.imageIds.length - 1);
        if (index !== viewport.getCurrentImageIdIndex()) void viewport.setImageIdIndex(index);
      }
    } finally {
      this.quiet--;
    }
  }
}
