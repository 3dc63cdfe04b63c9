/**
 * `jarvis completion bash|zsh|fish`: a completion script for the shell, made from the command
 * table itself (so it never drifts from the CLI), with node ids completed from the config in use
 * (`jarvis completion --nodes`, quiet when there is none). Each script reads the line as the CLI
 * does: global flags anywhere (`--config F` before or after the command, passed on to `--nodes`),
 * flag values skipped, then the command and its subcommand (`config check`, `sim fault`,
 * `incidents ack <node>`).
 */

export interface CommandSpec {
  name: string;
  description: string;
  /** Long flags, e.g. `--task`. */
  options: string[];
  /** Flags (long or short) that take a value: the word after them is not a command. */
  valueFlags: string[];
  /** Takes a node id as its argument. */
  takesNode: boolean;
  /** Fixed words its argument may be (completion's shells). */
  words?: string[];
  subcommands?: CommandSpec[];
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A shell's single-quoted string. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const FILE_FLAGS = ['--config', '--data-dir', '--tools', '--spec', '--config-out', '--output'];
const NODE_FLAGS = ['--node', '--omit'];
/** The global flags a completion passes on to `jarvis completion --nodes`. */
const WHERE_FLAGS = ['--config', '--data-dir'];

/** Every flag that takes a value, anywhere in the table. */
function valueFlagsOf(commands: readonly CommandSpec[]): string[] {
  const all = new Set<string>(WHERE_FLAGS);
  const walk = (cs: readonly CommandSpec[]) => cs.forEach((c) => (c.valueFlags.forEach((f) => all.add(f)), walk(c.subcommands ?? [])));
  walk(commands);
  return [...all].sort();
}

/** What a position offers: a command's (or subcommand's) flags, and the words its argument may be. */
interface Offer {
  opts: string[];
  /** Literal words, or nodes from the config. */
  words: string[];
  nodes: boolean;
}

/** The offers at each (command, subcommand) the line can be at; '' for none. */
function offers(commands: readonly CommandSpec[], globals: readonly string[]): { cmd: string; sub: string; hasSubs: boolean; offer: Offer }[] {
  const out: { cmd: string; sub: string; hasSubs: boolean; offer: Offer }[] = [{ cmd: '', sub: '', hasSubs: true, offer: { opts: [...globals], words: commands.map((c) => c.name), nodes: false } }];
  for (const c of commands) {
    const subs = c.subcommands ?? [];
    const hasSubs = subs.length > 0;
    out.push({ cmd: c.name, sub: '', hasSubs, offer: { opts: [...c.options, ...globals], words: hasSubs ? subs.map((s) => s.name) : (c.words ?? []), nodes: !hasSubs && c.takesNode } });
    for (const s of subs) out.push({ cmd: c.name, sub: s.name, hasSubs, offer: { opts: [...s.options, ...globals], words: s.words ?? [], nodes: s.takesNode } });
  }
  return out;
}

/**
 * A case arm's pattern: exact for a subcommand; for a command without subcommands, anything after
 * it (`recover/ol1` is still recover's, its argument given).
 */
function pattern(cmd: string, sub: string, hasSubs: boolean): string {
  return sub || hasSubs || !cmd ? quote(`${cmd}/${sub}`) : `${quote(`${cmd}/`)}*`;
}

export function completionScript(shell: Shell, commands: readonly CommandSpec[], globals: readonly string[]): string {
  const valueFlags = valueFlagsOf(commands);
  const at = offers(commands, globals);
  if (shell === 'bash') return bashScript(at, valueFlags);
  if (shell === 'zsh') return zshScript(commands, at, valueFlags);
  return fishScript(commands, at, valueFlags, globals);
}

function bashScript(at: ReturnType<typeof offers>, valueFlags: string[]): string {
  const cases = at.map(({ cmd, sub, offer, hasSubs }) => `    ${pattern(cmd, sub, hasSubs)}) opts=${quote(offer.opts.join(' '))}; [ -z "${sub ? '$arg' : '$sub'}" ] && words=${offer.nodes ? '"$(_jarvis_nodes)"' : quote(offer.words.join(' '))} ;;`).join('\n');
  return `# jarvis completion for bash: eval "$(jarvis completion bash)" in ~/.bashrc
_jarvis_nodes() { jarvis completion --nodes "\${_jarvis_where[@]}" 2>/dev/null; }
_jarvis() {
  local cur prev w i cmd="" sub="" arg="" opts="" words=""
  _jarvis_where=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The line as the CLI reads it: global flags anywhere, flag values skipped, then command and subcommand.
  for ((i=1; i<COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${WHERE_FLAGS.join('|')}) _jarvis_where+=("$w" "\${COMP_WORDS[i+1]}"); i=$((i+1)) ;;
      ${WHERE_FLAGS.map((f) => `${f}=*`).join('|')}) _jarvis_where+=("$w") ;;
      ${valueFlags.join('|')}) i=$((i+1)) ;;
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="$w"; elif [ -z "$sub" ]; then sub="$w"; elif [ -z "$arg" ]; then arg="$w"; fi ;;
    esac
  done
  case "$prev" in
    ${FILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    ${NODE_FLAGS.join('|')}) COMPREPLY=( $(compgen -W "$(_jarvis_nodes)" -- "$cur") ); return ;;
  esac
  case "$cmd/$sub" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -W "$words" -- "$cur") ); fi
}
complete -F _jarvis jarvis
`;
}

function zshScript(commands: readonly CommandSpec[], at: ReturnType<typeof offers>, valueFlags: string[]): string {
  const described = commands.map((c) => `    ${quote(`${c.name}:${c.description.replace(/:/g, '\\:')}`)}`).join('\n');
  const cases = at
    .filter((a) => a.cmd)
    .map(({ cmd, sub, offer, hasSubs }) => `    ${pattern(cmd, sub, hasSubs)}) opts=(${offer.opts.map(quote).join(' ')}); [[ -z "${sub ? '$arg' : '$sub'}" ]] && ${offer.nodes ? 'found=(${(f)"$(jarvis completion --nodes $where 2>/dev/null)"})' : `found=(${offer.words.map(quote).join(' ')})`} ;;`)
    .join('\n');
  return `#compdef jarvis
# jarvis completion for zsh: jarvis completion zsh > "\${fpath[1]}/_jarvis" (or eval it in ~/.zshrc after compinit)
_jarvis() {
  local -a commands opts where found
  local cmd="" sub="" arg="" w i
  commands=(
${described}
  )
  # The line as the CLI reads it: global flags anywhere, flag values skipped, then command and subcommand.
  for (( i = 2; i < CURRENT; i++ )); do
    w="\${words[i]}"
    case "$w" in
      ${WHERE_FLAGS.join('|')}) where+=("$w" "\${words[i+1]}"); (( i++ )) ;;
      ${WHERE_FLAGS.map((f) => `${f}=*`).join('|')}) where+=("$w") ;;
      ${valueFlags.join('|')}) (( i++ )) ;;
      -*) ;;
      *) if [[ -z "$cmd" ]]; then cmd="$w"; elif [[ -z "$sub" ]]; then sub="$w"; elif [[ -z "$arg" ]]; then arg="$w"; fi ;;
    esac
  done
  case "\${words[CURRENT-1]}" in
    ${FILE_FLAGS.join('|')}) _files; return ;;
    ${NODE_FLAGS.join('|')}) found=(\${(f)"$(jarvis completion --nodes $where 2>/dev/null)"}); compadd -a found; return ;;
  esac
  if [[ -z "$cmd" && "\${words[CURRENT]}" != -* ]]; then
    _describe 'command' commands
    return
  fi
  opts=(${at[0]!.offer.opts.map(quote).join(' ')})
  case "$cmd/$sub" in
${cases}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then compadd -a opts; elif (( \${#found} )); then compadd -a found; fi
}
if (( $+functions[compdef] )); then compdef _jarvis jarvis; fi
`;
}

function fishScript(commands: readonly CommandSpec[], at: ReturnType<typeof offers>, valueFlags: string[], globals: readonly string[]): string {
  const lines = [
    '# jarvis completion for fish: jarvis completion fish > ~/.config/fish/completions/jarvis.fish',
    '# The line as the CLI reads it: global flags anywhere, flag values skipped, then command and subcommand.',
    'function __jarvis_parse',
    '    set -l toks (commandline -opc)',
    "    set -g __jarvis_cmd ''",
    "    set -g __jarvis_sub ''",
    '    set -g __jarvis_where',
    '    set -l i 2',
    '    while test $i -le (count $toks)',
    '        set -l w $toks[$i]',
    '        switch $w',
    `            case ${WHERE_FLAGS.join(' ')}`,
    '                set i (math $i + 1)',
    '                test $i -le (count $toks); and set -a __jarvis_where $w $toks[$i]',
    `            case ${WHERE_FLAGS.map((f) => quote(`${f}=*`)).join(' ')}`,
    '                set -a __jarvis_where $w',
    `            case ${valueFlags.join(' ')}`,
    '                set i (math $i + 1)',
    "            case '-*'",
    "            case '*'",
    '                if test -z "$__jarvis_cmd"',
    '                    set -g __jarvis_cmd $w',
    '                else if test -z "$__jarvis_sub"',
    '                    set -g __jarvis_sub $w',
    '                end',
    '        end',
    '        set i (math $i + 1)',
    '    end',
    'end',
    '# At this command and subcommand exactly (what comes next is their argument).',
    'function __jarvis_at -a cmd sub',
    '    __jarvis_parse',
    '    test "$__jarvis_cmd" = "$cmd"; and test "$__jarvis_sub" = "$sub"',
    'end',
    '# Within this command (and subcommand, when given): its flags apply.',
    'function __jarvis_in -a cmd sub',
    '    __jarvis_parse',
    '    test "$__jarvis_cmd" = "$cmd"; and begin; test -z "$sub"; or test "$__jarvis_sub" = "$sub"; end',
    'end',
    'function __jarvis_nodes',
    '    __jarvis_parse',
    '    jarvis completion --nodes $__jarvis_where 2>/dev/null',
    'end',
    'complete -c jarvis -f',
  ];
  const flag = (o: string) => `-l ${o.replace(/^--/, '')}${FILE_FLAGS.includes(o) ? ' -r -F' : NODE_FLAGS.includes(o) ? ` -x -a ${quote('(__jarvis_nodes)')}` : ''}`;
  for (const c of commands) lines.push(`complete -c jarvis -n ${quote("__jarvis_at '' ''")} -a ${c.name} -d ${quote(c.description.slice(0, 80))}`);
  for (const { cmd, sub, offer } of at.filter((a) => a.cmd)) {
    const where = quote(`__jarvis_at ${cmd} ${sub ? sub : "''"}`);
    const spec = commands.find((c) => c.name === cmd);
    const subSpec = spec?.subcommands?.find((s) => s.name === sub);
    if (offer.nodes) lines.push(`complete -c jarvis -n ${where} -a ${quote('(__jarvis_nodes)')}`);
    for (const w of offer.words) lines.push(`complete -c jarvis -n ${where} -a ${w}${!sub && spec?.subcommands ? ` -d ${quote((spec.subcommands.find((s) => s.name === w)?.description ?? '').slice(0, 80))}` : ''}`);
    const own = sub ? (subSpec?.options ?? []) : (spec?.options ?? []);
    for (const o of own) lines.push(`complete -c jarvis -n ${quote(`__jarvis_in ${cmd}${sub ? ` ${sub}` : ''}`)} ${flag(o)}`);
  }
  for (const g of globals) lines.push(`complete -c jarvis ${flag(g)}`);
  return `${lines.join('\n')}\n`;
}
