// The synchronizers that make two viewports move as one: slice by index, window/level,
// and zoom with pan. Each is named for what it links.
import { Enums, getRenderingEngine, type StackViewport, type Types } from "@cornerstonejs/core";
import { SynchronizerManager, synchronizers, type Synchronizer } from "@cornerstonejs/tools";

function stackViewportOf(viewport: Types.IViewportId): StackViewport | undefined {
  return getRenderingEngine(viewport.renderingEngineId)?.getViewport(viewport.viewportId) as
    StackViewport | undefined;
}

// The paired series share geometry and slice count, so the index is the link: it needs no
// frame of reference or spatial registration, and holds for a difference series as well.
function sliceIndexSyncCallback(
  _synchronizer: Synchronizer,
  source: Types.IViewportId,
  target: Types.IViewportId,
): Promise<void> | void {
  const from = stackViewportOf(source);
  const to = stackViewportOf(target);
  if (!from || !to) return;
  const index = from.getCurrentImageIdIndex();
  if (index === to.getCurrentImageIdIndex() || index >= to.getImageIds().length) return;
  return to.setImageIdIndex(index).then(() => undefined);
}

export interface PairSynchronizers {
  sliceIndex: Synchronizer;
  windowLevel: Synchronizer;
  zoomPan: Synchronizer;
}

export function createPairSynchronizers(
  prefix: string,
  viewports: Types.IViewportId[],
): PairSynchronizers {
  const sliceIndex = SynchronizerManager.createSynchronizer(
    `${prefix}-slice-index`,
    Enums.Events.STACK_NEW_IMAGE,
    sliceIndexSyncCallback,
  );
  const windowLevel = synchronizers.createVOISynchronizer(`${prefix}-window-level`, {
    syncInvertState: false,
    syncColormap: false,
  });
  // Zoom and pan rather than the whole camera: a stack viewport's camera also carries the
  // slice position, which the slice index link already owns.
  const zoomPan = synchronizers.createZoomPanSynchronizer(`${prefix}-zoom-pan`);
  for (const sync of [sliceIndex, windowLevel, zoomPan]) {
    for (const viewport of viewports) sync.add(viewport);
  }
  return { sliceIndex, windowLevel, zoomPan };
}
