package sockets_test

import (
	"log"
	"os"
	"reflect"
	"testing"
	"time"

	"gopkg.in/macaron.v1"

	"github.com/go-macaron/sockets"
)

// Every exported name of the original, with its type: this file compiles
// only if a program written against the original does.
var (
	_ func(...*sockets.Options) macaron.Handler              = sockets.Messages
	_ func(...*sockets.Options) macaron.Handler              = sockets.ByteSliceMessages
	_ func(interface{}, ...*sockets.Options) macaron.Handler = sockets.JSON

	_          = [...]int{sockets.LogLevelError, sockets.LogLevelWarning, sockets.LogLevelInfo, sockets.LogLevelDebug}
	_ []string = sockets.LogLevelStrings

	_ sockets.Binding = (*sockets.MessageConnection)(nil)
	_ sockets.Binding = (*sockets.ByteSliceConnection)(nil)
	_ sockets.Binding = (*sockets.JSONConnection)(nil)

	// Names the original's README used, which its code never defined
	// (Message() is not among them: it clashed with a type Message).
	_ = [...]int{sockets.LEVEL_ERROR, sockets.LEVEL_WARNING, sockets.LEVEL_INFO, sockets.LEVEL_DEBUG}
)

func TestOriginalAPI(t *testing.T) {
	o := sockets.Options{
		Logger:            log.New(os.Stderr, "", 0),
		LogLevel:          sockets.LogLevelDebug,
		SkipLogging:       true,
		WriteWait:         time.Second,
		PongWait:          time.Second,
		PingPeriod:        time.Second,
		MaxMessageSize:    int64(1024),
		SendChannelBuffer: 1,
		RecvChannelBuffer: 1,
		AllowedOrigin:     ".*",
	}
	c := &sockets.Connection{Options: &o, Error: make(chan error, 1), Disconnect: make(chan int, 1), Done: make(chan bool, 3)}
	var (
		_ func(int) error   = c.Close
		_ func() chan int   = c.DisconnectChannel
		_ func() chan error = c.ErrorChannel
	)
	mc := &sockets.MessageConnection{Connection: c, Sender: make(chan string), Receiver: make(chan string)}
	bc := &sockets.ByteSliceConnection{Connection: c, Sender: make(chan []byte), Receiver: make(chan []byte)}
	jc := &sockets.JSONConnection{Connection: c, Sender: reflect.Value{}, Receiver: reflect.Value{}}
	for _, b := range []sockets.Binding{mc, bc, jc} {
		if b.DisconnectChannel() != c.Disconnect || b.ErrorChannel() != c.Error {
			t.Fatal("a Binding does not return its connection's channels")
		}
	}
	if err := c.Close(1000); err != nil || <-c.Disconnect != 1000 {
		t.Fatalf("Close(1000) = %v, want the code on Disconnect", err)
	}
	if sockets.LogLevelStrings[sockets.LogLevelWarning] != "Warning" {
		t.Fatal("LogLevelStrings")
	}
}
