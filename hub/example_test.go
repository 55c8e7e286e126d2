package hub_test

import (
	"context"
	"fmt"

	"github.com/go-macaron/sockets/hub"
)

// Two members of one room: what the middleware would inject for each is
// a sender, a disconnect channel and a done channel.
func Example() {
	rooms := hub.New[string](hub.Options{Server: "here"})
	defer rooms.Close()
	ann, bob := make(chan string, 8), make(chan string, 8)
	rooms.Join("lobby", "ann", ann, make(chan int, 1), make(chan bool, 1))
	rooms.Join("lobby", "bob", bob, make(chan int, 1), make(chan bool, 1))

	rooms.Broadcast("lobby", "hello, lobby")
	rooms.SendTo("lobby", "bob", "psst, bob")
	fmt.Println("ann:", <-ann)
	fmt.Println("bob:", <-bob, "/", <-bob)

	members, _ := rooms.Presence(context.Background(), "lobby")
	fmt.Println(members)
	// Output:
	// ann: hello, lobby
	// bob: hello, lobby / psst, bob
	// [{ann here} {bob here}]
}
