// Closed-loop HTTP load generator for bench/api: N goroutines, each with its own keep-alive
// connection, POST the same JSON body back to back for a fixed duration (or request count)
// and record each request's latency. Prints one JSON object: requests, errors, rps, p50/p99/max ms.
// Standard library only, so the bench needs no module download. `loadgen fanout` (fanout.go):
// WebSocket subscribers for the fan-out measurement.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests   int64          `json:"requests"`
	Warmup     int64          `json:"warmup_requests"`
	Errors     int64          `json:"errors"`
	Statuses   map[string]int `json:"statuses"`
	FirstError string         `json:"first_error,omitempty"`
	Seconds    float64        `json:"seconds"`
	RPS        float64        `json:"rps"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Bytes      int64          `json:"response_bytes"`
	Clients    int            `json:"clients"`
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q/100*float64(len(sorted)-1) + 0.5)
	return float64(sorted[i].Microseconds()) / 1000
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fanout" {
		os.Exit(fanout(os.Args[2:]))
	}
	url := flag.String("url", "", "URL to POST to")
	bodyFile := flag.String("body", "", "file holding the JSON body")
	clients := flag.Int("c", 1, "concurrent clients (each one connection)")
	duration := flag.Duration("d", 5*time.Second, "how long to run (ignored when -n is set)")
	warmup := flag.Duration("warmup", 0, "run this long first, unrecorded")
	total := flag.Int64("n", 0, "stop after this many requests in all (0: run for -d)")
	expect := flag.String("expect", "", "a response counts as an error unless its body contains this")
	flag.Parse()
	if *url == "" || *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url URL -body FILE [-c N] [-d DUR | -n N] [-warmup DUR] [-expect TEXT]")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if !json.Valid(body) {
		fmt.Fprintln(os.Stderr, "the body is not JSON")
		os.Exit(2)
	}
	expectBytes := []byte(*expect)

	var (
		issued   atomic.Int64
		errCount atomic.Int64
		nbytes   atomic.Int64
		mu       sync.Mutex
		statuses = map[string]int{}
		firstErr string
	)
	fail := func(what string) {
		errCount.Add(1)
		mu.Lock()
		statuses[what]++
		if firstErr == "" {
			firstErr = what
		}
		mu.Unlock()
	}

	var warmed atomic.Int64
	run := func(until time.Time, record bool, lat *[]time.Duration, client *http.Client) {
		for {
			if *total > 0 && record {
				if issued.Add(1) > *total {
					return
				}
			} else if !time.Now().Before(until) {
				return
			}
			req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				if record {
					fail(err.Error())
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if !record {
				warmed.Add(1)
				continue
			}
			*lat = append(*lat, elapsed)
			nbytes.Add(int64(len(data)))
			switch {
			case err != nil:
				fail(err.Error())
			case resp.StatusCode != 200:
				fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 200)]))))
			case len(expectBytes) > 0 && !bytes.Contains(data, expectBytes):
				fail("unexpected body: " + string(data[:min(len(data), 200)]))
			default:
				mu.Lock()
				statuses["200"]++
				mu.Unlock()
			}
		}
	}

	newClient := func() *http.Client {
		return &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        1,
				MaxIdleConnsPerHost: 1,
				MaxConnsPerHost:     1,
				DisableCompression:  true,
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			},
		}
	}
	httpClients := make([]*http.Client, *clients)
	for i := range httpClients {
		httpClients[i] = newClient()
	}

	// Each client goes from its warm-up straight on to the measured requests. No barrier between the two:
	// a client that waited for the slowest warm-up request (seconds, at hundreds of clients) sat idle past
	// the server's keep-alive timeout, and its first measured request met a connection being closed
	// ("connection reset by peer"). A request still in flight when the warm-up ends is not recorded.
	start := time.Now().Add(*warmup)
	until := start.Add(*duration)
	latencies := make([][]time.Duration, *clients)
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if *warmup > 0 {
				var none []time.Duration
				run(start, false, &none, httpClients[i])
			}
			run(until, true, &latencies[i], httpClients[i])
		}(i)
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()

	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	out := result{
		Requests:   int64(len(all)),
		Warmup:     warmed.Load(),
		Errors:     errCount.Load(),
		Statuses:   statuses,
		FirstError: firstErr,
		Seconds:    seconds,
		RPS:        float64(len(all)) / seconds,
		P50:        pct(all, 50),
		P90:        pct(all, 90),
		P99:        pct(all, 99),
		Bytes:      nbytes.Load(),
		Clients:    *clients,
	}
	if len(all) > 0 {
		out.Max = float64(all[len(all)-1].Microseconds()) / 1000
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}
