// Package harness runs Dream API on a real LiteFS cluster on one machine:
// nodes on loopback with a static lease, each running `dream serve` under
// `litefs mount` with a config generated from the shipped litefs.yml.
// Identity is a local JWKS server, so no account with anyone is needed.
// Replicas may reach the primary through links that add latency, as
// between regions, and that can be cut. The cluster tests in e2e/cluster
// and the benchmark program cmd/dreambench both build on it, so it answers
// errors instead of failing a test.
//
// It needs root, FUSE (/dev/fuse and fusermount3) and the litefs binary;
// Requirements says which of them is missing.
package harness

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"gopkg.in/yaml.v3"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/primary"
	"github.com/dream-api/dream/store"
	"github.com/dream-api/dream/store/storetest"
)

const (
	// ClusterSecret is DREAM_CLUSTER_SECRET on every node.
	ClusterSecret = "cluster-secret-for-tests"
	// WebhookSecret is STRIPE_WEBHOOK_SECRET on every node, for signing
	// webhook fixtures with billing.SignWebhook.
	WebhookSecret = "whsec_cluster_test"
	// Account is the connected payment account Seed gives the platform in
	// test mode.
	Account = "acct_cluster"
)

// issuer is the end-user tokens' issuer and keyID the JWKS key they name.
const (
	issuer = "https://clerk.cluster.test"
	keyID  = "cluster-test"
)

// Requirements returns the path of the litefs binary, or an error naming
// what the machine lacks to run a cluster.
func Requirements() (litefs string, err error) {
	if os.Geteuid() != 0 {
		return "", errors.New("FUSE mounts need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "", errors.New("/dev/fuse is missing")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return "", errors.New("fusermount3 is missing (Debian package fuse3)")
	}
	if path, err := exec.LookPath("litefs"); err == nil {
		return path, nil
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	path := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "litefs")
	if _, err := os.Stat(path); err != nil {
		return "", errors.New("the litefs binary is missing (go install github.com/superfly/litefs/cmd/litefs@v0.5.14)")
	}
	return path, nil
}

// moduleRoot is the directory of this module's go.mod, found by walking up
// from the working directory, so that tests and programs run from anywhere
// in the module find cmd/dream and litefs.yml.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./cmd/dream of this module into dir with the given build
// tags and returns the binary's path.
func Build(dir string, tags ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(dir, "dream"))
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "./cmd/dream")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building dream: %v\n%s", err, out)
	}
	return bin, nil
}

// Config describes a cluster.
type Config struct {
	// Dir is the working directory; node i lives in Dir/<its name>.
	Dir string
	// Dream is the dream binary, from Build.
	Dream string
	// LiteFS is the litefs binary, from Requirements.
	LiteFS string
	// Nodes is how many nodes there are: node 0 is the static primary
	// "primary", the others "replica-1", "replica-2", ...
	Nodes int
	// Env is extra environment for every node, appended last so that it
	// overrides the harness's own.
	Env []string
	// PrimaryHost, if not nil, returns the host:port node i (i ≥ 1) uses
	// to reach the primary's dream, for a proxy that delays it; by default
	// the primary's own address. It becomes that node's static lease
	// hostname, which dream reads from the mount's .primary file.
	PrimaryHost func(i int) string
	// Latency, if not zero, puts a link with this delay each way between
	// every replica and the primary, under dream's writes and LiteFS's
	// replication stream alike, as between regions. It takes the place of
	// PrimaryHost.
	Latency time.Duration
}

// Cluster is a set of LiteFS nodes running dream, the first the static
// primary, with a local identity provider. New builds it stopped: start
// nodes with Node.Start.
type Cluster struct {
	Nodes []*Node

	jwks   *httptest.Server
	signer jose.Signer
	links  []*link
	// dream is the dream binary and env the Config's extra environment,
	// for ServeAlone.
	dream string
	env   []string
}

// New writes each node's litefs.yml, generated from the module's shipped
// one with the same keys, the lease made static and paths and ports local,
// and starts the JWKS server the nodes verify end-user tokens against.
func New(cfg Config) (_ *Cluster, err error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("a cluster needs at least one node")
	}
	if cfg.Latency != 0 && cfg.PrimaryHost != nil {
		return nil, errors.New("a cluster takes Latency or PrimaryHost, not both")
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	shipped, err := os.ReadFile(filepath.Join(root, "litefs.yml"))
	if err != nil {
		return nil, err
	}
	dreamBin, err := filepath.Abs(cfg.Dream)
	if err != nil {
		return nil, err
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", keyID))
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey, KeyID: keyID, Algorithm: "RS256", Use: "sig"}
	c := &Cluster{signer: signer, dream: dreamBin, env: cfg.Env, jwks: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	}))}
	defer func() {
		if err != nil {
			c.jwks.Close()
			c.closeLinks()
		}
	}()

	litefsAddrs, dreamAddrs, metricsAddrs := make([]string, cfg.Nodes), make([]string, cfg.Nodes), make([]string, cfg.Nodes)
	for i := range cfg.Nodes {
		for _, addr := range []*string{&litefsAddrs[i], &dreamAddrs[i], &metricsAddrs[i]} {
			if *addr, err = FreeAddr(); err != nil {
				return nil, err
			}
		}
	}
	for i := range cfg.Nodes {
		name := "primary"
		if i > 0 {
			name = fmt.Sprintf("replica-%d", i)
		}
		dir, err := filepath.Abs(filepath.Join(cfg.Dir, name))
		if err != nil {
			return nil, err
		}
		// A static lease names the primary for everyone; its hostname
		// carries dream's port, since all nodes share one host here.
		primaryHost, primaryLiteFS := dreamAddrs[0], litefsAddrs[0]
		switch {
		case i > 0 && cfg.PrimaryHost != nil:
			primaryHost = cfg.PrimaryHost(i)
		case i > 0 && cfg.Latency != 0:
			for _, addr := range []*string{&primaryHost, &primaryLiteFS} {
				k, err := newLink(*addr, cfg.Latency)
				if err != nil {
					return nil, err
				}
				c.links = append(c.links, k)
				*addr = k.addr()
			}
		}
		config, err := nodeConfig(shipped, dir, litefsAddrs[i], map[string]any{
			"type":          "static",
			"hostname":      primaryHost,
			"advertise-url": "http://" + primaryLiteFS,
			"candidate":     i == 0,
		}, dreamBin)
		if err != nil {
			return nil, err
		}
		n := &Node{Name: name, Dir: dir, Addr: dreamAddrs[i], MetricsAddr: metricsAddrs[i], config: config, litefs: cfg.LiteFS, dream: dreamBin}
		n.env = append(c.environment(n.DB(), n.Outbox(), n.Addr, n.MetricsAddr), cfg.Env...)
		c.Nodes = append(c.Nodes, n)
	}
	return c, nil
}

// environment is the environment of a dream on database db with outbox,
// listening on addr, that verifies end users' tokens against the cluster's
// identity provider and payment events against WebhookSecret.
func (c *Cluster) environment(db, outbox, addr, metricsAddr string) []string {
	return append(os.Environ(),
		"DREAM_DB="+db,
		"DREAM_OUTBOX="+outbox,
		"DREAM_ADDR="+addr,
		"DREAM_METRICS_ADDR="+metricsAddr,
		"DREAM_CLUSTER_SECRET="+ClusterSecret,
		"DREAM_RATE_LIMIT_PER_MINUTE=0",
		"DREAM_CONSOLE_AUTH=local",
		"CLERK_SECRET_KEY=sk_test_cluster",
		"CLERK_PUBLISHABLE_KEY=pk_test_Y2x1c3Rlci5jbGVyay5hY2NvdW50cy5kZXYk",
		"CLERK_API_URL="+c.jwks.URL+"/v1",
		"STRIPE_SECRET_KEY=sk_test_cluster",
		"STRIPE_WEBHOOK_SECRET="+WebhookSecret,
		"STRIPE_API_URL=http://127.0.0.1:1",
		"STRIPE_PLATFORM_WEBHOOK_SECRET="+WebhookSecret,
		"DREAM_PLATFORM_PRICE_ID=price_cluster_plan",
		"DREAM_PLATFORM_METERED_PRICE_ID=price_cluster_end_users",
		"DREAM_PUBLIC_URL=http://"+addr,
	)
}

// nodeConfig writes the litefs.yml of the node in dir: the shipped config
// with the fuse and data directories, the http address, the lease and exec
// replaced, and returns its path.
func nodeConfig(shipped []byte, dir, litefsAddr string, lease map[string]any, dreamBin string) (string, error) {
	for _, sub := range []string{"mnt", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	var config map[string]any
	if err := yaml.Unmarshal(shipped, &config); err != nil {
		return "", fmt.Errorf("the shipped litefs.yml: %w", err)
	}
	for _, s := range []struct{ section, key, value string }{
		{"fuse", "dir", filepath.Join(dir, "mnt")},
		{"data", "dir", filepath.Join(dir, "data")},
		{"http", "addr", litefsAddr},
	} {
		m, ok := config[s.section].(map[string]any)
		if !ok {
			return "", fmt.Errorf("the shipped litefs.yml has no %s section", s.section)
		}
		m[s.key] = s.value
	}
	config["lease"] = lease
	config["exec"] = []map[string]any{{"cmd": dreamBin + " serve"}}
	// A cluster on one machine wants a failed start to end the process,
	// not to wait for someone to look.
	config["exit-on-error"] = true
	out, err := yaml.Marshal(config)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "litefs.yml")
	return path, os.WriteFile(path, out, 0o644)
}

// FreeAddr returns a loopback address with a port nothing listens on at
// the time of asking, for a node or anything run beside the cluster. The
// port is closed again until the node binds it, so it is drawn below the
// kernel's ephemeral range: a port the kernel gives to another process's
// listener on port 0, or to an outgoing connection, of a test package
// running at the same time would otherwise take it in between.
func FreeAddr() (string, error) {
	low, high := 20000, ephemeralLow()-1
	for range 100 {
		if high <= low {
			break
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", low+mathrand.IntN(high-low+1)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, Linux's
// default when it cannot be read.
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

// Close stops every node, replicas before the primary, the JWKS server
// and the links.
func (c *Cluster) Close() error {
	var errs []error
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		if err := c.Nodes[i].Stop(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Nodes[i].Name, err))
		}
	}
	c.jwks.Close()
	c.closeLinks()
	return errors.Join(errs...)
}

// CutLinks closes every connection between the replicas and the primary
// that Config.Latency put on links, losing the bytes on their way, as a
// crash of the primary's machine does with its network. Connections made
// afterwards go through.
func (c *Cluster) CutLinks() {
	for _, k := range c.links {
		k.cut()
	}
}

func (c *Cluster) closeLinks() {
	for _, k := range c.links {
		k.close()
	}
}

// Ready waits until the node's /readyz answers 200, at most within.
func (c *Cluster) Ready(n *Node, within time.Duration) error {
	return waitReady(n.Name, n.URL("/readyz"), within)
}

// waitReady waits until the readiness URL of the dream called name
// answers 200, at most within.
func waitReady(name, url string, within time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(within)
	for {
		err := func() error {
			res, err := client.Get(url)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				return fmt.Errorf("%d %s", res.StatusCode, b)
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", name, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Token signs an end-user token for the environment of publishableKey as
// the Clerk instance would, valid for an hour, claiming plan when it is
// not "".
func (c *Cluster) Token(publishableKey, userID, plan string) (string, error) {
	now := time.Now()
	claims := map[string]any{"publishableKey": publishableKey}
	if plan != "" {
		claims["plan"] = plan
	}
	return jwt.Signed(c.signer).Claims(jwt.Claims{
		Issuer: issuer, Subject: userID,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Claims(claims).CompactSerialize()
}

// SeedOptions shape the project Seed creates.
type SeedOptions struct {
	// Type is the project's type; SaaS when empty. The catalogue is
	// storetest.SaaSTiers whatever the type.
	Type dream.ProjectType
	// StrictLimits makes the project's usage forwarded synchronously to
	// the primary instead of acknowledged at the edge.
	StrictLimits bool
}

// Project is a seeded project with the plaintext keys of both
// environments.
type Project = storetest.Project

// Keys are the plaintext keys of one environment.
type Keys = storetest.Keys

// Seed creates a developer with a project through the store on the
// primary's mount, as the management API will: a platform, a project with
// storetest.SaaSTiers (free 100, pro 10,000, enterprise unlimited) and the
// connected test account Account. The primary must be ready.
func (c *Cluster) Seed(opts SeedOptions) (Project, error) {
	if opts.Type == "" {
		opts.Type = dream.ProjectSaaS
	}
	ctx := context.Background()
	db, err := store.Open(c.Nodes[0].DB(), false)
	if err != nil {
		return Project{}, err
	}
	defer db.Close()
	w := primary.New(db, time.Now, nil)
	defer w.Close()
	platform, err := storetest.NewPlatform(ctx, w)
	if err != nil {
		return Project{}, err
	}
	project, err := storetest.NewProject(ctx, db, w, platform, opts.Type, storetest.SaaSTiers())
	if err != nil {
		return Project{}, err
	}
	if err := w.Write(ctx, dream.ConnectPaymentAccount{PlatformID: platform, Mode: dream.ModeTest, AccountID: Account}, nil); err != nil {
		return Project{}, err
	}
	if opts.StrictLimits {
		if err := w.Write(ctx, dream.UpdateProject{ProjectID: project.ID, Changes: dream.ProjectChanges{StrictLimits: &opts.StrictLimits}}, nil); err != nil {
			return Project{}, err
		}
	}
	return project, nil
}
