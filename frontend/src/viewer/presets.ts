// CT window presets: the study's list, applied by button or by number key in list order.
import { utilities } from "@cornerstonejs/core";

export interface WindowPreset {
  key: string;
  label: string;
  width: number;
  center: number;
}

export interface WindowConfig {
  default_preset: string;
  change_allowed: boolean;
  presets: WindowPreset[];
}

export interface WindowLevel {
  width: number;
  center: number;
}

/** The subtraction images centre on zero and keep differences of a few tens of HU visible. */
export const DIFFERENCE_WINDOW: WindowLevel = { width: 200, center: 0 };

export function defaultPreset(config: WindowConfig): WindowPreset {
  const preset = config.presets.find((p) => p.key === config.default_preset) ?? config.presets[0];
  if (!preset) throw new Error("The study defines no window presets.");
  return preset;
}

/** The preset that number key `digit` (1-based) selects, if the list is that long. */
export function presetForDigit(config: WindowConfig, digit: number): WindowPreset | undefined {
  return config.presets[digit - 1];
}

export function voiRangeOf({ width, center }: WindowLevel): { lower: number; upper: number } {
  return utilities.windowLevel.toLowHighRange(width, center);
}

export function windowLevelOf(range: { lower: number; upper: number }): WindowLevel {
  const { windowWidth, windowCenter } = utilities.windowLevel.toWindowLevel(
    range.lower,
    range.upper,
  );
  return { width: windowWidth, center: windowCenter };
}

export function formatWindowLevel({ width, center }: WindowLevel): string {
  return `W ${Math.round(width)} L ${Math.round(center)}`;
}
