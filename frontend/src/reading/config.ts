// The page contract: what the Django template puts in #reading-config.

export type SideLabel = "A" | "B";
export type Preference = "A" | "B" | "none" | null;

export interface Level {
  value: number;
  anchor: string;
}

export interface Criterion {
  key: string;
  label: string;
  required: boolean;
  levels: Level[];
}

export interface Score {
  side: SideLabel;
  criterion: string;
  value: number;
}

export interface Answers {
  scores: Score[];
  preference: Preference;
  comment: string;
}

export interface ReadingConfig {
  token: string;
  position: number;
  total: number;
  session: number;
  study: { title: string; instructions_html: string };
  sides: { label: SideLabel; images: string[] }[];
  criteria: Criterion[];
  scale: "absolute" | "relative";
  ask_preference: boolean;
  ask_comment: boolean;
  allow_revise: boolean;
  read_only: boolean;
  window: import("../viewer/presets").WindowConfig;
  answers: Answers;
  seconds: number;
  api: { answers: string; submit: string; log: string };
  previous_url: string | null;
  worklist_url: string;
  next_prefetch: Record<SideLabel, string[]> | null;
}
