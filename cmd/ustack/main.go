// Command ustack is the userspace TCP/IP stack with BBR as one binary.
//
// Each subcommand lives in its own file and registers itself in init():
//
//	ustack demo     a transfer over a simulated path, printing what it measured
//	ustack bench    goodput tables in simulation (bench sim) and end to end (bench e2e)
//	ustack run      terminate clients' TCP in ustack and relay to a native service
//	ustack ss       live connections of a running `ustack run`, like `ss -ti`
//	ustack netem    a real-time path emulator between two interfaces
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("ustack: command registered twice: " + name)
	}
	commands[name] = command{summary, run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ustack <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'ustack <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ustack: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "ustack %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
