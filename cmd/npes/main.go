// Command npes is the secure hybrid electronic postal system: server, CA,
// client, print agent and offline verifier in one binary. Run `npes help`.
package main

import (
	"context"
	"os"

	"github.com/npes/npes/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], &cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
	}))
}
