package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia"
)

var validateCommand = command{
	summary: "Check a config file as lbd would, and print it with defaults and IDs filled in.",
	usage:   "lbctl validate [-f FILE]",
	example: "lbctl validate -f configs/lbd.yaml",
	define:  defineValidate,
}

func defineValidate(fs *flag.FlagSet) runner {
	file := fs.String("f", "configs/lbd.yaml", "config file")
	return func(_ context.Context, pos []string, stdout, stderr io.Writer) error {
		if len(pos) > 0 {
			return fmt.Errorf("validate takes no arguments (%q): the file is -f FILE", pos[0])
		}
		return runValidate(*file, stdout)
	}
}

func runValidate(file string, stdout io.Writer) error {
	cfg, err := octavia.LoadFile(file)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(cfg)
}
