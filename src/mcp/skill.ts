/**
 * `jarvis skill install`: the runbook as a Claude Code skill (`.claude/skills/jarvis-failover/
 * SKILL.md`), telling the agent when to use it, how to run the runbook with jarvis's MCP tools or
 * its CLI, what needs the person's consent, and how to read the results.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../system/files.js';

const SKILL_NAME = 'jarvis-failover';

export const SKILL_MD = `---
name: ${SKILL_NAME}
description: Use when a node of the self-hosted LLM cluster (Ollama, LM Studio, llama.cpp, a proxy) goes offline, times out, returns errors or is slow, or when asked about the cluster's health, incidents or uptime. Runs the cluster's failover runbook with jarvis - detect, diagnose, route around, recover, record - through its MCP tools or its CLI.
---

# The cluster's failover runbook, with jarvis

jarvis knows the cluster (its config), probes it, diagnoses a node by the runbook, restarts it
the way its kind needs (locally or over ssh), verifies it with a ping completion, and records the
incident. Use its MCP tools when the \`jarvis\` MCP server is connected; otherwise the CLI, always
with \`--json\`.

## The five steps

1. **Detect**: \`cluster_status\` (CLI: \`jarvis status --json\`). Each node's \`status\`: \`ok\`,
   \`refused\`, \`timeout\`, \`http_error\` (with \`throttled: true\` for a 429 quota),
   \`unreachable\`, \`dns\`, \`loading\`, \`model_missing\`, \`bad_response\`.
2. **Diagnose**: \`diagnose_node {node}\` (CLI: \`jarvis diagnose NODE --json\`). Read
   \`diagnosis.cause\`, \`meaning\`, \`actions\`, \`recovery\` and the \`evidence\` (GPU, loaded
   models, log lines, process).
3. **Route around it**: the diagnosis's \`fallbacks\` are who takes the node's work (its own
   fallbacks, then the cascade) with their live status. Say which answer.
4. **Recover**: first \`recover_node {node, dryRun: true}\` (CLI: \`jarvis recover NODE --dry-run
   --json\`) and show the plan. Then, **only with the person's consent**, \`recover_node {node}\`
   (CLI: \`jarvis recover NODE --json\`). \`force: true\` restarts where the runbook holds (a busy
   node whose process is alive, a low-impact node): only when the person asks for it.
5. **Record**: the recovery records the incident itself. \`list_incidents {node}\` (CLI: \`jarvis
   incidents --node NODE --json\`) shows it and the node's count in the escalation window.

## Consent

Ask the person before each of these; never on your own:

- \`recover_node\` without \`dryRun\` (restarts a service, may drop what it is doing);
- \`reset_breaker\` (sends traffic to the node again);
- \`acknowledge_incidents\` (lets automatic restarts resume after an escalation).

If the server answers that it may not do them, tell the person: it was started without
\`--allow-recover\`, which is theirs to decide.

## Reading the results

- \`outcome\`: \`recovered\` (restarted and verified), \`healthy\` (nothing to do), \`no_action\`
  (the runbook holds: a quota, a busy node, a low-impact one; the reason says why and whether
  \`force\` would act), \`not_recovered\` (tried and failed: the steps say where), \`interrupted\`.
- **Escalated** (\`incident.escalated\`, or \`escalated: true\` in the incidents' window: 3 or more
  incidents that count on one node within 24 h): do not restart it again. The runbook asks for an
  investigation: hardware, logs, load. Report what the evidence points to.
- A throttled node (429) is over a quota: nothing to restart; wait for its Retry-After.
- \`uptime_report\` (CLI: \`jarvis report --json\`): uptime is up time over up and down time; say
  how much of the window was watched (\`watchedMs\` of \`windowMs\`).
`;

export interface SkillInstall {
  file: string;
  replaced: boolean;
}

/** Where the skill goes: the project's `.claude/skills` (cwd) or the user's (`~/.claude/skills`). */
export function skillPath(scope: 'user' | 'project', cwd: string, home: string): string {
  return path.join(scope === 'user' ? home : cwd, '.claude', 'skills', SKILL_NAME, 'SKILL.md');
}

export async function installSkill(file: string): Promise<SkillInstall> {
  const replaced = existsSync(file);
  if (replaced && (await readFile(file, 'utf8')) === SKILL_MD) return { file, replaced: false };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, SKILL_MD);
  return { file, replaced };
}
