/** A monitoring plugin's levels (`jarvis check --nagios`): exit codes, labels, the worst of several. */
/** Nagios plugin exit codes. */
export const NagiosCode = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
export type NagiosLevel = keyof typeof NagiosCode;

export const NAGIOS_LABEL: Record<NagiosLevel, string> = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL', unknown: 'UNKNOWN' };

export function worst(levels: NagiosLevel[]): NagiosLevel {
  return levels.reduce<NagiosLevel>((a, b) => (NagiosCode[b] > NagiosCode[a] ? b : a), 'ok');
}
