module github.com/go-macaron/sockets/hub/redis

go 1.23.0

require (
	github.com/go-macaron/sockets v0.0.0-00010101000000-000000000000
	github.com/gorilla/websocket v1.5.3
	github.com/redis/go-redis/v9 v9.17.3
	go.uber.org/goleak v1.3.0
	gopkg.in/macaron.v1 v1.4.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/coder/websocket v1.8.15 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/go-macaron/inject v0.0.0-20160627170012-d8a0b8677191 // indirect
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/segmentio/encoding v0.5.4 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/unknwon/com v0.0.0-20190804042917-757f69c95f3e // indirect
	golang.org/x/crypto v0.0.0-20190701094942-4def268fd1a4 // indirect
	golang.org/x/sync v0.16.0 // indirect
	golang.org/x/sys v0.28.0 // indirect
	gopkg.in/ini.v1 v1.46.0 // indirect
)

replace github.com/go-macaron/sockets => ../../
