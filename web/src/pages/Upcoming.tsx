/** A screen whose API has not landed yet: what it will do, and which endpoint it waits for. */
import type { ReactNode } from "react";
import { CheckCircleIcon } from "../components/icons";
import { Badge, PageHeader } from "../components/ui";

export function Upcoming({
  eyebrow,
  title,
  description,
  features,
  api,
  art,
  children,
}: {
  eyebrow?: string;
  title: string;
  description: string;
  features: string[];
  api: string;
  art: ReactNode;
  children?: ReactNode;
}) {
  return (
    <>
      <PageHeader eyebrow={eyebrow} title={title} description={description} />
      {children}
      <section className="card preview" aria-labelledby="upcoming-title">
        <div>
          <Badge tone="info">Arriving with {api}</Badge>
          <h2 id="upcoming-title" className="preview__title" style={{ marginTop: "var(--space-3)" }}>
            What you will do here
          </h2>
          <p className="preview__text">This screen lights up as soon as the server offers {api}.</p>
          <ul className="preview__list">
            {features.map((f) => (
              <li key={f}>
                <CheckCircleIcon />
                <span>{f}</span>
              </li>
            ))}
          </ul>
        </div>
        <div className="preview__art" aria-hidden="true">
          {art}
        </div>
      </section>
    </>
  );
}

/* Illustrations (decorative). */

export function ListArt() {
  return (
    <svg viewBox="0 0 320 220" fill="none">
      {[0, 1, 2, 3].map((i) => (
        <g key={i} transform={`translate(20 ${20 + i * 48})`}>
          <rect width="280" height="38" rx="8" fill="var(--color-surface)" stroke="var(--color-border)" />
          <rect x="12" y="10" width="18" height="18" rx="5" fill="currentColor" opacity={0.25 + i * 0.15} />
          <rect x="42" y="11" width={110 - i * 12} height="7" rx="3.5" fill="var(--color-text-subtle)" opacity="0.5" />
          <rect x="42" y="23" width={160 - i * 20} height="5" rx="2.5" fill="var(--color-text-subtle)" opacity="0.25" />
          <rect x="222" y="13" width="46" height="12" rx="6" fill="currentColor" opacity="0.2" />
        </g>
      ))}
    </svg>
  );
}

export function GraphArt() {
  return (
    <svg viewBox="0 0 320 220" fill="none">
      <g stroke="currentColor" strokeWidth="2" opacity="0.5">
        <path d="M70 50 C120 50 110 110 160 110 M70 170 C120 170 110 110 160 110 M160 110 C210 110 200 60 250 60 M160 110 C210 110 200 160 250 160" />
      </g>
      {[
        [30, 36],
        [30, 156],
        [210, 46],
        [210, 146],
      ].map(([x, y], i) => (
        <g key={i} transform={`translate(${x} ${y})`}>
          <rect width="80" height="28" rx="7" fill="var(--color-surface)" stroke="var(--color-border-strong)" />
          <rect x="10" y="11" width="40" height="6" rx="3" fill="var(--color-text-subtle)" opacity="0.5" />
          <circle cx="66" cy="14" r="4" fill={i === 3 ? "var(--color-danger)" : "var(--color-success)"} />
        </g>
      ))}
      <circle cx="160" cy="110" r="16" fill="currentColor" />
      <path d="M153 110h14M160 103v14" stroke="#fff" strokeWidth="2.5" strokeLinecap="round" />
    </svg>
  );
}

export function CardsArt() {
  return (
    <svg viewBox="0 0 320 220" fill="none">
      {[0, 1, 2, 3, 4, 5].map((i) => {
        const x = 20 + (i % 3) * 96;
        const y = 24 + Math.floor(i / 3) * 92;
        return (
          <g key={i} transform={`translate(${x} ${y})`}>
            <rect width="84" height="80" rx="10" fill="var(--color-surface)" stroke="var(--color-border)" />
            <rect x="12" y="12" width="22" height="22" rx="6" fill="currentColor" opacity="0.3" />
            <rect x="12" y="44" width="52" height="6" rx="3" fill="var(--color-text-subtle)" opacity="0.5" />
            <rect x="12" y="58" width="36" height="10" rx="5" fill={i === 4 ? "var(--color-danger)" : "var(--color-success)"} opacity="0.35" />
          </g>
        );
      })}
    </svg>
  );
}

export function CodeArt() {
  return (
    <svg viewBox="0 0 320 220" fill="none">
      <rect x="24" y="20" width="272" height="180" rx="12" fill="var(--color-surface)" stroke="var(--color-border)" />
      <circle cx="44" cy="38" r="4" fill="var(--color-danger)" opacity="0.6" />
      <circle cx="58" cy="38" r="4" fill="var(--color-warning)" opacity="0.6" />
      <circle cx="72" cy="38" r="4" fill="var(--color-success)" opacity="0.6" />
      {[0, 1, 2, 3, 4, 5, 6].map((i) => (
        <rect
          key={i}
          x={44 + (i % 3 === 1 ? 16 : 0)}
          y={62 + i * 18}
          width={[150, 120, 190, 90, 170, 130, 60][i]}
          height="7"
          rx="3.5"
          fill={i % 2 ? "currentColor" : "var(--color-text-subtle)"}
          opacity={i % 2 ? 0.45 : 0.35}
        />
      ))}
    </svg>
  );
}

export function AuditArt() {
  return (
    <svg viewBox="0 0 320 220" fill="none">
      <path d="M60 30v160" stroke="var(--color-border-strong)" strokeWidth="2" />
      {[0, 1, 2, 3].map((i) => (
        <g key={i} transform={`translate(0 ${36 + i * 44})`}>
          <circle cx="60" cy="8" r="7" fill="var(--color-surface)" stroke="currentColor" strokeWidth="2.5" />
          <rect x="84" y="0" width="200" height="30" rx="8" fill="var(--color-surface)" stroke="var(--color-border)" />
          <rect x="96" y="8" width={100 - i * 10} height="6" rx="3" fill="var(--color-text-subtle)" opacity="0.5" />
          <rect x="96" y="18" width={140 - i * 14} height="4" rx="2" fill="var(--color-text-subtle)" opacity="0.25" />
        </g>
      ))}
    </svg>
  );
}
