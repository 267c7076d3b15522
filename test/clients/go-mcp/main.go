// A minimal MCP client built on the official Go SDK, so that tests can drive the gateway with it.
//
//	go-mcp -url URL -token TOKEN [-protocol VERSION] list
//	go-mcp -url URL -token TOKEN [-protocol VERSION] call TOOL '{"arg":"value"}'
//
// It prints one JSON object: {"result": …} with what the SDK returned to the program, or
// {"error": "…"} when the SDK returned an error. The exit status is 0 either way; 2 means bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func main() {
	url := flag.String("url", "", "the MCP endpoint")
	token := flag.String("token", "", "the bearer token")
	protocol := flag.String("protocol", "", "the protocol revision to ask for (default: the SDK's latest)")
	timeout := flag.Duration("timeout", 60*time.Second, "overall deadline")
	flag.Parse()
	args := flag.Args()
	if *url == "" || len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go-mcp -url URL -token TOKEN (list | call TOOL JSON)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	result, err := run(ctx, *url, *token, *protocol, args)
	out := map[string]any{}
	if err != nil {
		out["error"] = err.Error()
	} else {
		out["result"] = result
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func run(ctx context.Context, url, token, protocol string, args []string) (any, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "portcullis-go-test", Version: "1.0.0"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: bearer{token, http.DefaultTransport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	session, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: protocol})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer session.Close()
	switch args[0] {
	case "list":
		return session.ListTools(ctx, nil)
	case "call":
		if len(args) != 3 {
			return nil, fmt.Errorf("call needs TOOL and JSON arguments")
		}
		var arguments map[string]any
		if err := json.Unmarshal([]byte(args[2]), &arguments); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return session.CallTool(ctx, &mcp.CallToolParams{Name: args[1], Arguments: arguments})
	}
	return nil, fmt.Errorf("unknown command %q", args[0])
}
