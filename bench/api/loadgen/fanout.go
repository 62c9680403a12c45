// `loadgen fanout`: N graphql-transport-ws subscribers for bench/api's fan-out, in one process
// whose cost per message is a few microseconds (the Python clients it replaces took 80-100 ms
// of CPU per event on the benchmark's own cores, as much as the budget being measured).
//
// A WebSocket client from the standard library (RFC 6455: the upgrade, masked client frames,
// unmasked server frames, ping answered with pong). Each subscriber sends connection_init,
// waits for connection_ack and subscribes to -query with -variables; each `next` is stamped with
// the wall clock (the driver stamps its commits with the same clock) under the eventId it carries.
//
// Lines on stdout, one JSON object each, for the driver:
//
//	{"ready": N}               every subscriber has sent its subscribe
//	{"live": true}             every subscriber has received at least one event
//	{"complete": ID}           every subscriber has received event ID
//	{"arrivals": {...}, ...}   when stdin closes: each event id's arrival times (ns), errors, CPU
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type wsConn struct {
	conn   net.Conn
	reader *bufio.Reader
	wmu    sync.Mutex
}

func dialWS(rawURL, protocol string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(nonce), protocol)
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	reader := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(reader, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("upgrade refused: HTTP %d", resp.StatusCode)
	}
	return &wsConn{conn: conn, reader: reader}, nil
}

// writeFrame sends one final, masked frame (clients must mask).
func (c *wsConn) writeFrame(opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		header = append(header, 0x80|byte(n))
	case n < 1<<16:
		header = append(header, 0x80|126, byte(n>>8), byte(n))
	default:
		header = append(header, 0x80|127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	mask := make([]byte, 4)
	if _, err := rand.Read(mask); err != nil {
		return err
	}
	frame := append(header, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(frame)
	return err
}

func (c *wsConn) sendText(text string) error { return c.writeFrame(0x1, []byte(text)) }

// readMessage returns the next text or binary message, answering pings and joining fragments.
func (c *wsConn) readMessage() ([]byte, error) {
	var message []byte
	for {
		var head [2]byte
		if _, err := io.ReadFull(c.reader, head[:]); err != nil {
			return nil, err
		}
		fin, opcode := head[0]&0x80 != 0, head[0]&0x0f
		masked, n := head[1]&0x80 != 0, uint64(head[1]&0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.reader, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.reader, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.reader, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.reader, payload); err != nil {
			return nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8:
			return nil, errors.New("closed by the server: " + string(payload))
		case 0x9:
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		message = append(message, payload...)
		if fin {
			return message, nil
		}
	}
}

type wsMessage struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type nextPayload struct {
	Data struct {
		Events struct {
			EventID string `json:"eventId"`
		} `json:"events"`
	} `json:"data"`
	Errors json.RawMessage `json:"errors"`
}

type fanoutResult struct {
	Subscribers int                `json:"subscribers"`
	Arrivals    map[string][]int64 `json:"arrivals"`
	Errors      []string           `json:"errors"`
	CPUSeconds  float64            `json:"cpu_seconds"`
}

func fanout(args []string) int {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	target := fs.String("url", "", "ws:// URL of the GraphQL endpoint")
	n := fs.Int("n", 1000, "subscribers (each one connection)")
	query := fs.String("query", "", "the subscription document")
	variables := fs.String("variables", "{}", "its variables (JSON)")
	parallel := fs.Int("connect", 50, "connection handshakes in flight at once")
	fs.Parse(args)
	if *target == "" || *query == "" || !json.Valid([]byte(*variables)) {
		fmt.Fprintln(os.Stderr, "usage: loadgen fanout -url WS_URL -query DOC [-variables JSON] [-n N] [-connect K]")
		return 2
	}
	subscribe, _ := json.Marshal(map[string]any{
		"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": *query, "variables": json.RawMessage(*variables)},
	})

	var (
		out      = json.NewEncoder(os.Stdout)
		outMu    sync.Mutex
		mu       sync.Mutex
		arrivals = map[string][]int64{}
		errs     []string
		ready    atomic.Int64
		live     atomic.Int64
	)
	say := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(v)
	}
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}
	slots := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			ws, err := dialWS(*target, "graphql-transport-ws")
			if err == nil {
				err = ws.sendText(`{"type":"connection_init","payload":{}}`)
			}
			if err == nil {
				var ack []byte
				if ack, err = ws.readMessage(); err == nil && !json.Valid(ack) {
					err = errors.New("a connection_ack that is not JSON")
				}
			}
			if err == nil {
				err = ws.sendText(string(subscribe))
			}
			<-slots
			if err != nil {
				fail(err)
				return
			}
			if ready.Add(1) == int64(*n) {
				say(map[string]int{"ready": *n})
			}
			received := false
			for {
				raw, err := ws.readMessage()
				now := time.Now().UnixNano()
				if err != nil {
					fail(err)
					return
				}
				var msg wsMessage
				if err := json.Unmarshal(raw, &msg); err != nil {
					fail(err)
					return
				}
				switch msg.Type {
				case "next":
					var next nextPayload
					if err := json.Unmarshal(msg.Payload, &next); err != nil || len(next.Errors) > 0 {
						fail(fmt.Errorf("next: %s", msg.Payload))
						return
					}
					id := next.Data.Events.EventID
					mu.Lock()
					arrivals[id] = append(arrivals[id], now)
					complete := len(arrivals[id]) == *n
					mu.Unlock()
					if complete {
						say(map[string]string{"complete": id})
					}
					if !received {
						received = true
						if live.Add(1) == int64(*n) {
							say(map[string]bool{"live": true})
						}
					}
				case "ping":
					ws.sendText(`{"type":"pong"}`)
				case "error", "complete":
					fail(fmt.Errorf("subscription ended: %s", raw))
					return
				}
			}
		}()
	}
	io.Copy(io.Discard, os.Stdin) // the driver closes stdin when it is done
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
	mu.Lock()
	result := fanoutResult{Subscribers: *n, Arrivals: arrivals, Errors: errs, CPUSeconds: cpu}
	if result.Errors == nil {
		result.Errors = []string{}
	}
	say(result)
	mu.Unlock()
	return 0
}
