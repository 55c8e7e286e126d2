package sockets_test

import (
	"testing"

	. "github.com/go-macaron/sockets"
)

// Message is the type the original's own test file and real programs
// declare beside a dot import of the package; this file compiles only
// while the package exports no name Message.
type Message struct {
	From, Text string
}

// TestDotImportWithMessageType builds a JSON handler for that type.
func TestDotImportWithMessageType(t *testing.T) {
	if JSON(Message{}) == nil {
		t.Fatal("JSON(Message{}) returned nil")
	}
}
