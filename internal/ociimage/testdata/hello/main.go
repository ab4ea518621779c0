// Command hello is the tiny static binary the ociimage tests pack into an
// image and run with runc: it writes its argv and $GREETING to /out/hello.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	msg := fmt.Sprintf("args=%s greeting=%s\n", strings.Join(os.Args, " "), os.Getenv("GREETING"))
	if err := os.WriteFile("/out/hello", []byte(msg), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
