package main

import (
	"context"
	"flag"
	"io"

	"gopkg.in/yaml.v3"

	"lbd/internal/octavia"
)

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lbctl validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "configs/lbd.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := octavia.LoadFile(*file)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(cfg)
}
