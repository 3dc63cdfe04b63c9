/** `jarvis mcp` and `jarvis skill install`: jarvis for agents (MCP tools, a Claude Code skill). */
import { UsageError } from '../../errors.js';
import type { CliCommand } from '../table.js';

export const mcp: CliCommand<{ allowRecover?: boolean }> = {
  name: 'mcp',
  description: "an MCP server over stdio: the runbook's tools (status, diagnose, recover, incidents, health, report) for Claude Code and other agents",
  examples: ['claude mcp add jarvis -- jarvis mcp --config /path/jarvis.config.yaml', 'claude mcp add jarvis -- jarvis mcp --allow-recover --config /path/jarvis.config.yaml'],
  notes: [
    'Or in a project, .mcp.json beside the code (Claude Code asks before using it):',
    '  {"mcpServers": {"jarvis": {"command": "jarvis", "args": ["mcp", "--config", "/path/jarvis.config.yaml"]}}}',
    'Stdout carries JSON-RPC only; logs go to stderr. Read-only tools always work; recover_node, reset_breaker',
    'and acknowledge_incidents act only with --allow-recover (or mcp.allowRecover: true in the config).',
  ],
  flags: [{ flags: '--allow-recover', description: 'let the tools recover nodes, reset breakers and acknowledge incidents (else they return the plan and say how to allow it); also mcp.allowRecover in the config' }],
  run: async ({ opts, context, proc }) => {
    const ctx = await context();
    const { serveMcpStdio } = await import('../../mcp/stdio.js');
    await serveMcpStdio({ ctx, allowRecover: Boolean(opts.allowRecover), signal: proc.signal });
  },
};

const install: CliCommand<{ user?: boolean; project?: boolean; print?: boolean }> = {
  name: 'install',
  description: "write the runbook as a Claude Code skill: ./.claude/skills/jarvis-failover/SKILL.md (--project, the default) or ~/.claude/skills/... (--user)",
  examples: ['jarvis skill install', 'jarvis skill install --user', 'jarvis skill install --print'],
  flags: [
    { flags: '--project', description: "into this directory's .claude/skills (the default)" },
    { flags: '--user', description: 'into ~/.claude/skills, for every project' },
    { flags: '--print', description: 'print the skill instead of writing it' },
  ],
  run: async ({ opts, proc }) => {
    if (opts.user && opts.project) throw new UsageError('--user or --project, not both');
    const { installSkill, skillPath, SKILL_MD } = await import('../../mcp/skill.js');
    if (opts.print) return void process.stdout.write(SKILL_MD);
    const { homedir } = await import('node:os');
    const r = await installSkill(skillPath(opts.user ? 'user' : 'project', process.cwd(), proc.env.HOME ?? homedir()));
    process.stdout.write(`${r.replaced ? 'Updated' : 'Wrote'} ${r.file}: Claude Code uses it when a cluster node fails (connect the tools too: claude mcp add jarvis -- jarvis mcp).\n`);
  },
};

export const skill: CliCommand = {
  name: 'skill',
  description: 'the failover runbook as a Claude Code skill',
  examples: ['jarvis skill install --project'],
  subcommands: [install],
};
