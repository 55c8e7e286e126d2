package hub_test

import (
	"context"
	"fmt"
	"strings"

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

// A member that drops and rejoins from the position of the last message it
// saw gets what the room said meanwhile, once, in order; one whose position
// the history no longer covers is told so.
func ExampleHub_JoinFrom() {
	rooms := hub.New[string](hub.Options{History: 100})
	defer rooms.Close()
	// The application's wire format carries the position: here a prefix.
	rooms.SetStamp(func(v string, pos hub.Position) string { return pos.String() + " " + v })

	ann := make(chan string, 8)
	m, _ := rooms.Join("lobby", "ann", ann, make(chan int, 1), make(chan bool, 1))
	rooms.Broadcast("lobby", "one")
	seen := <-ann
	m.Leave() // ann's connection drops

	rooms.Broadcast("lobby", "two")
	rooms.Broadcast("lobby", "three")

	again := make(chan string, 8)
	from := strings.Fields(seen)[0] // the position of the last message ann saw
	_, rec, _ := rooms.JoinFrom("lobby", "ann", again, make(chan int, 1), make(chan bool, 1), from)
	fmt.Println(rec.Recovered, rec.Replayed)
	fmt.Println(strings.Fields(<-again)[1], strings.Fields(<-again)[1])

	_, rec, _ = rooms.JoinFrom("lobby", "bob", make(chan string, 8), make(chan int, 1), make(chan bool, 1), "garbage")
	fmt.Println(rec.Recovered, rec.Reason)
	// Output:
	// true 2
	// two three
	// false the position is malformed
}
