module github.com/go-macaron/sockets

go 1.23.0

require (
	github.com/coder/websocket v1.8.15
	github.com/go-macaron/inject v0.0.0-20160627170012-d8a0b8677191
	github.com/gorilla/websocket v1.5.3
	github.com/segmentio/encoding v0.5.4
	go.uber.org/goleak v1.3.0
	golang.org/x/sync v0.16.0
	gopkg.in/macaron.v1 v1.4.0
)

require (
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/unknwon/com v0.0.0-20190804042917-757f69c95f3e // indirect
	golang.org/x/crypto v0.0.0-20190701094942-4def268fd1a4 // indirect
	golang.org/x/sys v0.0.0-20211110154304-99a53858aa08 // indirect
	gopkg.in/ini.v1 v1.46.0 // indirect
)
