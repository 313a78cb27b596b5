// The scoring panel: one radio group per criterion and side (or per criterion for the
// relative scale), the optional preference and comment, the save state and Submit.
import { el } from "../viewer/dom";
import type { Answers, Criterion, Preference, ReadingConfig, Score, SideLabel } from "./config";

interface Group {
  side: SideLabel;
  criterion: Criterion;
  inputs: HTMLInputElement[];
}

export type StatusKind = "info" | "saving" | "saved" | "retrying" | "error";

let idCounter = 0;
const nextId = (stem: string) => `${stem}-${++idCounter}`;

export class ScoringPanel extends EventTarget {
  readonly element: HTMLElement;
  private readonly config: ReadingConfig;
  private readonly groups: Group[] = [];
  private readonly preferenceInputs: HTMLInputElement[] = [];
  private readonly comment: HTMLTextAreaElement | null = null;
  private readonly status: HTMLElement;
  private readonly submitButton: HTMLButtonElement;
  private busy = false;

  constructor(config: ReadingConfig) {
    super();
    this.config = config;
    const form = el("form", { class: "scoring-form", novalidate: true });
    form.addEventListener("submit", (event) => event.preventDefault());

    if (config.scale === "relative") {
      const heading = el("h2", { id: nextId("scores") }, ["B compared with A"]);
      const section = el("section", { class: "score-side", "aria-labelledby": heading.id }, [
        heading,
      ]);
      for (const criterion of config.criteria) {
        section.append(this.buildGroup("B", criterion, `${criterion.label}, B compared with A`));
      }
      form.append(section);
    } else {
      for (const { label: side } of config.sides) {
        const heading = el("h2", { id: nextId("scores") }, [`Image ${side}`]);
        const section = el("section", { class: "score-side", "aria-labelledby": heading.id }, [
          heading,
        ]);
        for (const criterion of config.criteria) {
          section.append(this.buildGroup(side, criterion, `${criterion.label}, ${side}`));
        }
        form.append(section);
      }
    }

    if (config.ask_preference) form.append(this.buildPreference());
    if (config.ask_comment) {
      const id = nextId("comment");
      this.comment = el("textarea", { id, name: "comment", rows: 3, class: "comment" });
      this.comment.value = config.answers.comment ?? "";
      this.comment.addEventListener("input", () => this.changed());
      form.append(
        el("div", { class: "comment-field" }, [
          el("label", { for: id }, ["Comment"]),
          this.comment,
        ]),
      );
    }

    this.status = el("p", {
      class: "save-status",
      role: "status",
      "aria-live": "polite",
      "data-kind": "info",
    });
    this.submitButton = el("button", { type: "button", class: "submit-button", disabled: true }, [
      "Submit and next",
    ]);
    this.submitButton.addEventListener("click", () => {
      if (this.complete() && !this.busy) this.dispatchEvent(new Event("submit"));
    });
    const actions = el("div", { class: "panel-actions" });
    if (config.allow_revise && config.previous_url) {
      actions.append(el("a", { href: config.previous_url, class: "back-link" }, ["Back"]));
    }
    actions.append(this.submitButton);

    this.element = el("aside", { class: "reading-panel", "aria-label": "Scoring" }, [
      this.buildHeader(),
      form,
      el("div", { class: "panel-footer" }, [this.status, actions]),
    ]);
    this.restore(config.answers);
    if (config.read_only) {
      for (const control of this.element.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>(
        "input, textarea",
      )) {
        control.disabled = true;
      }
      this.setStatus(
        "This study is closed: the answers can be seen but no longer changed.",
        "info",
      );
    } else {
      this.setStatus("Answers are saved as you give them.", "info");
    }
    this.updateSubmit();
  }

  /** Every current answer, in the shape the answers API takes. */
  answers(): Answers {
    const scores: Score[] = [];
    for (const group of this.groups) {
      const checked = group.inputs.find((input) => input.checked);
      if (checked)
        scores.push({
          side: group.side,
          criterion: group.criterion.key,
          value: Number(checked.value),
        });
    }
    const preferred = this.preferenceInputs.find((input) => input.checked);
    return {
      scores,
      preference: preferred ? (preferred.value as Preference) : null,
      comment: this.comment?.value ?? "",
    };
  }

  /** Every required criterion answered and, when the study asks it, the preference. */
  complete(): boolean {
    const groupsDone = this.groups.every(
      (group) => !group.criterion.required || group.inputs.some((input) => input.checked),
    );
    const preferenceDone =
      !this.config.ask_preference || this.preferenceInputs.some((input) => input.checked);
    return groupsDone && preferenceDone;
  }

  setStatus(text: string, kind: StatusKind): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  setBusy(busy: boolean): void {
    this.busy = busy;
    this.updateSubmit();
  }

  /** Names of answers the server reported missing, in the panel's own words. */
  describeMissing(missing: unknown): string {
    if (!Array.isArray(missing) || missing.length === 0) return "";
    const names = missing.map((item) => {
      if (typeof item === "string") {
        const criterion = this.config.criteria.find((c) => c.key === item);
        return criterion ? criterion.label : item === "preference" ? "preference" : item;
      }
      if (item && typeof item === "object") {
        const { side, criterion } = item as { side?: string; criterion?: string };
        const label =
          this.config.criteria.find((c) => c.key === criterion)?.label ?? criterion ?? "";
        return side ? `${label}, ${side}` : label;
      }
      return String(item);
    });
    return `Missing: ${names.join("; ")}.`;
  }

  private buildHeader(): HTMLElement {
    const { config } = this;
    const header = el("header", { class: "panel-header" }, [
      el("p", { class: "case-position" }, [`Case ${config.position} of ${config.total}`]),
      el("h1", {}, [config.study.title]),
    ]);
    if (config.study.instructions_html.trim()) {
      const body = el("div", { class: "instructions-body" });
      // Sanitised by the server; the page's CSP blocks any script or style in it regardless.
      body.innerHTML = config.study.instructions_html;
      header.append(
        el("details", { class: "instructions" }, [el("summary", {}, ["Instructions"]), body]),
      );
    }
    header.append(el("a", { href: config.worklist_url, class: "worklist-link" }, ["Worklist"]));
    return header;
  }

  private buildGroup(side: SideLabel, criterion: Criterion, name: string): HTMLElement {
    const legendId = nextId("legend");
    const fieldset = el(
      "fieldset",
      {
        class: "score-group",
        role: "radiogroup",
        "aria-labelledby": legendId,
        "aria-required": criterion.required ? "true" : undefined,
        "data-side": side,
        "data-criterion": criterion.key,
      },
      [el("legend", { id: legendId }, [name])],
    );
    const inputName = `score-${side}-${criterion.key}`;
    const inputs = criterion.levels.map((level) => {
      const input = el("input", { type: "radio", name: inputName, value: level.value });
      input.addEventListener("change", () => this.changed());
      fieldset.append(
        el("label", { class: "level" }, [
          input,
          el("span", { class: "level-value" }, [String(level.value)]),
          " ",
          el("span", { class: "level-anchor" }, [level.anchor]),
        ]),
      );
      return input;
    });
    this.groups.push({ side, criterion, inputs });
    return fieldset;
  }

  private buildPreference(): HTMLElement {
    const legendId = nextId("legend");
    const fieldset = el(
      "fieldset",
      { class: "score-group preference", role: "radiogroup", "aria-labelledby": legendId },
      [el("legend", { id: legendId }, ["Which image do you prefer?"])],
    );
    const choices: [string, string][] = [
      ["A", "A"],
      ["B", "B"],
      ["none", "No preference"],
    ];
    for (const [value, text] of choices) {
      const input = el("input", { type: "radio", name: "preference", value });
      input.addEventListener("change", () => this.changed());
      this.preferenceInputs.push(input);
      fieldset.append(
        el("label", { class: "level" }, [input, el("span", { class: "level-anchor" }, [text])]),
      );
    }
    return fieldset;
  }

  private restore(answers: Answers): void {
    for (const score of answers.scores ?? []) {
      const group = this.groups.find(
        (g) => g.side === score.side && g.criterion.key === score.criterion,
      );
      const input = group?.inputs.find((i) => Number(i.value) === score.value);
      if (input) input.checked = true;
    }
    const preferred = this.preferenceInputs.find((i) => i.value === answers.preference);
    if (preferred) preferred.checked = true;
  }

  private changed(): void {
    this.updateSubmit();
    this.dispatchEvent(new Event("change"));
  }

  private updateSubmit(): void {
    this.submitButton.disabled = this.config.read_only || this.busy || !this.complete();
  }
}
