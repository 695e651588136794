// A few stroke icons (24x24, Feather-like) so the UI needs no icon font.

const PATHS = {
  pipelines: "M4 6h6l3 6-3 6H4M13 12h7M17 8l3 4-3 4",
  agents: "M4 5h16v6H4zM4 13h16v6H4zM8 8h.01M8 16h.01",
  schedules: "M12 7v5l3 2M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z",
  runs: "M5 4v16M5 8h6M5 15h6M11 6h8v4h-8zM11 13h8v4h-8z",
  audit: "M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7",
  tokens: "M15 7a4 4 0 1 1-3.9 4.9L4 19v-3h2v-2h2l1.6-1.6A4 4 0 0 1 15 7zM16 10h.01",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h11",
  plus: "M12 5v14M5 12h14",
  play: "M7 5l12 7-12 7z",
  stop: "M6 6h12v12H6z",
  pause: "M7 5h3v14H7zM14 5h3v14h-3z",
  restart: "M4 12a8 8 0 1 0 2.4-5.7M4 4v4h4",
  retry: "M4 12a8 8 0 1 0 2.4-5.7M4 4v4h4",
  chevronRight: "M9 6l6 6-6 6",
  chevronDown: "M6 9l6 6 6-6",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  copy: "M9 9h10v10H9zM5 15V5h10",
  key: "M15 7a4 4 0 1 1-3.9 4.9L4 19v-3h2v-2h2l1.6-1.6A4 4 0 0 1 15 7z",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 16 }: { name: IconName; size?: number }) {
  return (
    <svg className="icon" width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor"
      strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={PATHS[name]} />
    </svg>
  );
}
