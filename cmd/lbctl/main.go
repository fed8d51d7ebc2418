// Command lbctl is lbd's operator CLI.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "lbctl: no commands yet")
	os.Exit(2)
}
