package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dream-api/dream/e2e/harness"
)

// devNode is `dream dev` under load: one node on a local SQLite file with
// the demo developer's projects and the dev identity issuer.
type devNode struct {
	proc *process
	base string
	// data is the node's data directory.
	data string
	// publishableKey is the Demo SaaS project's.
	publishableKey string
}

// startDev starts `dream dev` named name with its data in dir/name, its
// log appended to dir/name.log, and flags besides its address and data
// directory, and waits until it answers. A node started again with the
// same name keeps its projects, users and usage.
func startDev(ctx context.Context, dream, dir, name string, flags ...string) (*devNode, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	args := append([]string{"dev", "--addr", addr, "--data", data}, flags...)
	p, err := startProcess("dream dev", filepath.Join(dir, name+".log"), dream, args...)
	if err != nil {
		return nil, err
	}
	d := &devNode{proc: p, base: "http://" + addr, data: data}
	if err := waitHealthy(ctx, d.base+"/health", 60*time.Second, p.exited); err != nil {
		p.Stop()
		return nil, fmt.Errorf("dream dev (log in %s): %w", p.log.Name(), err)
	}
	// dev.json is written before the banner, and the banner before the
	// server listens.
	b, err := os.ReadFile(filepath.Join(data, "dev.json"))
	if err != nil {
		p.Stop()
		return nil, err
	}
	var file struct {
		Projects []struct {
			Type           string `json:"type"`
			PublishableKey string `json:"publishableKey"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		p.Stop()
		return nil, fmt.Errorf("dev.json: %w", err)
	}
	for _, project := range file.Projects {
		if project.Type == "saas" {
			d.publishableKey = project.PublishableKey
		}
	}
	if d.publishableKey == "" {
		p.Stop()
		return nil, fmt.Errorf("dev.json lists no SaaS project")
	}
	return d, nil
}

// tiersSize is the size of the tiers answer, which the bare server copies.
func (d *devNode) tiersSize(ctx context.Context) (int, error) {
	body, err := call(ctx, http.MethodGet, d.base+"/api/tiers", nil, "X-Publishable-Key", d.publishableKey)
	return len(body), err
}

// tokens asks the dev issuer for tokens of n end users with plan.
func (d *devNode) tokens(ctx context.Context, n int, plan string) ([]string, error) {
	tokens := make([]string, n)
	for i := range tokens {
		req, _ := json.Marshal(map[string]string{
			"publishableKey": d.publishableKey, "email": fmt.Sprintf("bench-%d@example.com", i), "plan": plan,
		})
		body, err := call(ctx, http.MethodPost, d.base+"/dev/tokens", req, "Content-Type", "application/json")
		if err != nil {
			return nil, err
		}
		var answer struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
			return nil, fmt.Errorf("POST /dev/tokens answered %s", body)
		}
		tokens[i] = answer.Token
	}
	return tokens, nil
}

// call makes one request outside any load run and returns the body of its
// 2xx answer.
func call(ctx context.Context, method, url string, body []byte, headers ...string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: requestTimeout}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %d %s", method, req.URL.Path, res.StatusCode, b)
	}
	return b, nil
}
