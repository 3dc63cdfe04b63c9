/**
 * `jarvis completion bash|zsh|fish`: a completion script for the shell, made from the command
 * table itself (so it never drifts from the CLI), with node ids completed from the config in use
 * (`jarvis completion --nodes`, quiet when there is none).
 */

export interface CommandSpec {
  name: string;
  description: string;
  /** Long flags, e.g. `--task`. */
  options: string[];
  /** Takes a node id as its argument. */
  takesNode: boolean;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A shell's single-quoted string. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const FILE_FLAGS = ['--config', '--data-dir', '--tools', '--spec', '--config-out'];
const NODE_FLAGS = ['--node'];

export function completionScript(shell: Shell, commands: readonly CommandSpec[], globals: readonly string[]): string {
  const withNode = commands.filter((c) => c.takesNode).map((c) => c.name);
  if (shell === 'bash') {
    const cases = commands.map((c) => `    ${c.name}) opts=${quote([...c.options, ...globals].join(' '))} ;;`).join('\n');
    return `# jarvis completion for bash: eval "$(jarvis completion bash)" in ~/.bashrc
_jarvis() {
  local cur prev opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W ${quote(commands.map((c) => c.name).join(' '))} -- "$cur") )
    return
  fi
  case "$prev" in
    ${FILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    ${NODE_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "$(jarvis completion --nodes 2>/dev/null)" -- "$cur") ); return ;;
  esac
  opts=''
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    case "\${COMP_WORDS[1]}" in
      ${withNode.join('|') || '__none__'}) COMPREPLY=( $(compgen -W "$(jarvis completion --nodes 2>/dev/null)" -- "$cur") ) ;;
    esac
  fi
}
complete -F _jarvis jarvis
`;
  }
  if (shell === 'zsh') {
    const described = commands.map((c) => `    ${quote(`${c.name}:${c.description.replace(/:/g, '\\:')}`)}`).join('\n');
    const cases = commands.map((c) => `    ${c.name}) opts=(${[...c.options, ...globals].map(quote).join(' ')}) ;;`).join('\n');
    return `#compdef jarvis
# jarvis completion for zsh: jarvis completion zsh > "\${fpath[1]}/_jarvis" (or eval it in ~/.zshrc after compinit)
_jarvis() {
  local -a commands opts nodes
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "\${words[CURRENT-1]}" in
    ${FILE_FLAGS.join('|')}) _files; return ;;
    ${NODE_FLAGS.join('|')}) nodes=(\${(f)"$(jarvis completion --nodes 2>/dev/null)"}); compadd -a nodes; return ;;
  esac
  case "\${words[2]}" in
${cases}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -a opts
  else
    case "\${words[2]}" in
      ${withNode.join('|') || '__none__'}) nodes=(\${(f)"$(jarvis completion --nodes 2>/dev/null)"}); compadd -a nodes ;;
    esac
  fi
}
if (( $+functions[compdef] )); then compdef _jarvis jarvis; fi
`;
  }
  const lines = ['# jarvis completion for fish: jarvis completion fish > ~/.config/fish/completions/jarvis.fish', 'complete -c jarvis -f'];
  for (const c of commands) lines.push(`complete -c jarvis -n __fish_use_subcommand -a ${c.name} -d ${quote(c.description.slice(0, 80))}`);
  for (const c of commands) {
    for (const o of c.options) lines.push(`complete -c jarvis -n ${quote(`__fish_seen_subcommand_from ${c.name}`)} -l ${o.replace(/^--/, '')}${FILE_FLAGS.includes(o) ? ' -r -F' : NODE_FLAGS.includes(o) ? ` -x -a ${quote('(jarvis completion --nodes 2>/dev/null)')}` : ''}`);
  }
  for (const g of globals) lines.push(`complete -c jarvis -l ${g.replace(/^--/, '')}${FILE_FLAGS.includes(g) ? ' -r -F' : ''}`);
  if (withNode.length > 0) lines.push(`complete -c jarvis -n ${quote(`__fish_seen_subcommand_from ${withNode.join(' ')}`)} -a ${quote('(jarvis completion --nodes 2>/dev/null)')}`);
  return `${lines.join('\n')}\n`;
}
