/**
 * The config `jarvis init` writes: the runbook's six-node cluster (runbooks/failover.md), commented, so a
 * new user edits addresses instead of starting from a blank page.
 */
export const INIT_TEMPLATE = `# jarvis config: the cluster from the failover runbook (runbooks/failover.md).
# Edit the addresses, models and commands to match your machines, then run \`jarvis status\`.
#
# Per node, the stable fields are: id, kind, url, model, priority, timeoutMs, restart.
#   kind      ollama | lmstudio | openai (llama.cpp and other OpenAI-style servers) | proxy
#   priority  the fallback cascade: lower is tried first
#   timeoutMs detection timeout (runbook step 1: 3 s)
#   restart   argv run WITHOUT a shell to (re)start the service; never a shell string
# Optional: role, impact (low = no urgent action, no automatic restart), host (the machine to
# ping, default: the url's host), fallbacks (who takes over, and for what), ssh (to run restarts
# on a remote machine), check (how a proxy is checked: a command or a url).

defaults:
  timeoutMs: 3000

nodes:
  # 1. Code champion (about 1.3 s). If down: ping the machine, restart LM Studio there.
  - id: m2
    kind: lmstudio
    url: http://192.168.1.26:1234
    model: deepseek
    priority: 1
    role: code champion
    ssh: { target: admin@192.168.1.26 }
    fallbacks:
      - { node: m3, for: code review }
      - { node: ol1, for: questions }

  # 2. Solid general model (about 2.5 s). If down: ping; M2 takes everything (overload accepted).
  - id: m3
    kind: lmstudio
    url: http://192.168.1.113:1234
    model: mistral
    priority: 2
    role: solid general
    ssh: { target: admin@192.168.1.113 }
    fallbacks:
      - { node: m2, for: everything (overload accepted) }

  # 3. Fast local Ollama (about 0.5 s). If down: is the process alive? \`ollama serve\`.
  - id: ol1
    kind: ollama
    url: http://127.0.0.1:11434
    model: qwen3:8b
    priority: 3
    role: fast local
    restart: [ollama, serve]
    # Where its log is, for \`jarvis diagnose\` (default: the log jarvis wrote when it started it,
    # else journalctl -u ollama):
    # logFile: /var/log/ollama.log
    fallbacks:
      - { node: m3, for: quick tasks }

  # 4. Gemini through a local proxy script. If down: run its --ping; over quota: wait 60 s.
  - id: gemini
    kind: proxy
    model: gemini
    priority: 4
    role: architecture
    check:
      command: [node, /opt/turbo/gemini-proxy.js, --ping]
      timeoutMs: 10000
    fallbacks:
      - { node: claude, for: architecture }

  # 5. Claude through a local proxy script (slow: 12-18 s).
  - id: claude
    kind: proxy
    model: claude
    priority: 5
    timeoutMs: 20000
    role: reasoning
    check:
      command: [node, /opt/turbo/claude-proxy.js, --ping]
      timeoutMs: 20000

  # Claude Code in front of the cluster: jarvis serve speaks Anthropic's Messages API, so with
  # this node Anthropic answers first and the machines here take over when it is overloaded,
  # down or out of quota (run Claude Code as ANTHROPIC_BASE_URL=http://127.0.0.1:4000 claude).
  # Without apiKeyEnv, forwardClientAuth: true passes the client's own key, or a subscription's
  # token, on to it (never a key that jarvis's own serve.apiKeys took).
  # - id: anthropic
  #   kind: anthropic
  #   url: https://api.anthropic.com
  #   priority: 0
  #   timeoutMs: 10000
  #   apiKeyEnv: ANTHROPIC_API_KEY

  # 6. Last resort, reserved for embeddings. Minimal impact: no urgent action.
  - id: m1
    kind: lmstudio
    url: http://10.5.0.2:1234
    model: qwen3-30b
    priority: 6
    role: last resort, embeddings
    impact: low
    embeddings: true

# What diagnose reads on a node (GPU, loaded models, logs, process), each within timeoutMs.
# A node that times out with an idle GPU, its process alive and its log silent for hungAfterS
# is hung: set recover.restartHung: true to let check --recover and serve restart it.
# evidence: { timeoutMs: 2000, hungAfterS: 180 }
# recover: { restartHung: false }

# Task-specific fallback orders (used by \`jarvis ask --task\`).
tasks:
  code: [m2, m3]
  quick: [ol1, m3]
  architecture: [gemini, claude]
`;
