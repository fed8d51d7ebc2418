package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// completionCommand is a function, not a variable like the others: the
// script it writes reads the command table, which lists it.
func completionCommand() command {
	return command{
		summary: "Print a shell completion script for lbctl: its commands, each command's flags, get's kinds and member's operations.",
		usage:   "lbctl completion bash|zsh",
		args:    "bash|zsh  the shell",
		example: "lbctl completion bash > /etc/bash_completion.d/lbctl  # every new bash\nsource <(lbctl completion bash)                       # this one\nlbctl completion zsh > \"${fpath[1]}/_lbctl\"",
		define:  defineCompletion,
	}
}

func defineCompletion(fs *flag.FlagSet) runner {
	return func(_ context.Context, pos []string, stdout, _ io.Writer) error {
		if len(pos) != 1 || (pos[0] != "bash" && pos[0] != "zsh") {
			return fmt.Errorf("completion needs the shell: bash or zsh")
		}
		script := bashCompletion(commands())
		if pos[0] == "zsh" {
			// zsh runs the bash function through its bashcompinit.
			script = "#compdef lbctl\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + script
		}
		_, err := io.WriteString(stdout, script)
		return err
	}
}

// bashCompletion writes the completion function from the commands' own
// flag sets, so it cannot drift from them.
func bashCompletion(cmds map[string]command) string {
	var b strings.Builder
	b.WriteString(`# lbctl completion for bash (lbctl completion bash)
_lbctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="` + strings.Join(commandNames(cmds), " ") + `"
  else
    case ${COMP_WORDS[1]} in
`)
	for _, name := range commandNames(cmds) {
		fs, _ := cmds[name].flagSet(name)
		var flags []string
		fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
		words := strings.Join(flags, " ")
		args := map[string]string{"get": strings.Join(getKinds, " "), "member": "add remove drain", "completion": "bash zsh"}[name]
		if args != "" {
			fmt.Fprintf(&b, "      %s) if [ \"$COMP_CWORD\" -eq 2 ]; then words=%q; else words=%q; fi ;;\n", name, args, words)
		} else {
			fmt.Fprintf(&b, "      %s) words=%q ;;\n", name, words)
		}
	}
	b.WriteString(`    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _lbctl lbctl
`)
	return b.String()
}
