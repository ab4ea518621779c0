// Command sleeper is the only process of the tiny image that
// containerdlab.SleeperImage builds, for tests that need a real running
// task: it sleeps until killed.
package main

import "time"

func main() {
	for {
		time.Sleep(time.Hour)
	}
}
