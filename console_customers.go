package dream

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// The console's view of a project's end users and events, for the
// dashboard: each call checks the project is the developer's, then reads
// or acts through the same services as the customer API.

// CustomersPageSize is how many customers a page of the console lists.
const CustomersPageSize = 50

// MaxCountedMatches bounds how many matches of a search are counted.
const MaxCountedMatches = 1000

// CustomerQuery asks for a page of an environment's customers: all of
// them newest first, a page after or before a cursor, or those whose email
// starts with Search, or whose id is Search, in email order from Offset.
// Each costs the page it reads, however many customers there are.
type CustomerQuery struct {
	Search        string
	After, Before *CustomerCursor
	Offset        int
	Limit         int
}

// CustomerCursor is a customer's place in the list, newest first.
type CustomerCursor struct {
	CreatedAt time.Time
	UserID    string
}

// CursorOf is the cursor of c's place.
func CursorOf(c Customer) *CustomerCursor {
	return &CustomerCursor{CreatedAt: c.CreatedAt, UserID: c.UserID}
}

// String is the cursor as a page's link carries it: "{unix ms}.{user id}".
func (c *CustomerCursor) String() string {
	return strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + "." + c.UserID
}

// ParseCustomerCursor reads the cursor of String's form that the request
// field param holds; "" is none.
func ParseCustomerCursor(param, s string) (*CustomerCursor, error) {
	if s == "" {
		return nil, nil
	}
	ms, user, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || user == "" || len(user) > MaxID {
		return nil, Errorf(KindInvalid, "invalid_cursor", "a page cursor is {unix ms}.{customer id}, not %s", Quote(s)).For(param)
	}
	return &CustomerCursor{CreatedAt: time.UnixMilli(n).UTC(), UserID: user}, nil
}

// CustomersPage is a page of an environment's customers.
type CustomersPage struct {
	Customers []Customer
	// Total is how many customers there are, or match the search; a search
	// with more than MaxCountedMatches has Total MaxCountedMatches and
	// AtLeast set.
	Total   int64
	AtLeast bool
	// Search is what the page searched, and Offset where its page starts.
	Search string
	Offset int
	// Previous and Next say whether pages come before and after this one.
	Previous, Next bool
	// Tiers are the environment's catalogue, which decides each customer's
	// plan and limit.
	Tiers []Tier
}

// ConsoleCustomers is what the console reads of end users: the node's copy
// of the database.
type ConsoleCustomers interface {
	// CustomersPage reads q's page of an environment's customers, the
	// total, and whether pages come before and after it.
	CustomersPage(ctx context.Context, envID int64, q CustomerQuery) (*CustomersPage, error)
	WebhookEvents(ctx context.Context, envID int64, limit int) ([]WebhookEvent, error)
	// EnvironmentMetrics sums the figures of ComputeMetrics from end
	// users and orders at now, without reading them into memory.
	EnvironmentMetrics(ctx context.Context, envID int64, now time.Time) (Metrics, error)
	DailyFigures(ctx context.Context, envID int64, from string) ([]DailyFigure, error)
}

// Environment returns the developer's environment of a project and mode as
// the services of the customer API take it.
func (c *Console) Environment(ctx context.Context, p *Platform, projectID string, mode Mode) (*Environment, error) {
	_, env, err := c.environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, err
	}
	found, err := c.Directory.EnvironmentByPublishableKey(ctx, env.PublishableKey)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrProjectNotFound(projectID)
	}
	return found, nil
}

// CustomerList returns q's page of a project environment's customers, of
// CustomersPageSize.
func (c *Console) CustomerList(ctx context.Context, p *Platform, projectID string, mode Mode, q CustomerQuery) (*CustomersPage, error) {
	env, err := c.Environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, err
	}
	q.Search = strings.TrimSpace(q.Search)
	if err := CheckLength("search", q.Search, MaxEmail); err != nil {
		return nil, err
	}
	q.Offset, q.Limit = max(0, q.Offset), CustomersPageSize
	page, err := c.EndUsers.CustomersPage(ctx, env.ID, q)
	if err != nil {
		return nil, err
	}
	if page.Tiers, err = c.Directory.Tiers(ctx, env.ID); err != nil {
		return nil, err
	}
	return page, nil
}

// WebhookEvents returns the recent payment events of a project
// environment, newest first.
func (c *Console) WebhookEvents(ctx context.Context, p *Platform, projectID string, mode Mode, limit int) ([]WebhookEvent, error) {
	env, err := c.Environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, err
	}
	return c.EndUsers.WebhookEvents(ctx, env.ID, limit)
}

// MetricsDays is how many days of figures the console's charts draw.
const MetricsDays = 30

// MetricsView is a project environment's figures now and of the last
// MetricsDays days.
type MetricsView struct {
	Metrics Metrics
	Days    []DailyFigure
	// Store is whether the project sells products: its chart is revenue,
	// not MRR.
	Store bool
}

// Metrics returns a project environment's figures: now, summed by the
// database, and the daily figures the primary recorded.
func (c *Console) Metrics(ctx context.Context, p *Platform, projectID string, mode Mode) (*MetricsView, error) {
	env, err := c.Environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, err
	}
	now := c.Now()
	m, err := c.EndUsers.EnvironmentMetrics(ctx, env.ID, now)
	if err != nil {
		return nil, err
	}
	tiers, err := c.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	days, err := c.EndUsers.DailyFigures(ctx, env.ID, now.UTC().AddDate(0, 0, -MetricsDays).Format(DateLayout))
	if err != nil {
		return nil, err
	}
	return &MetricsView{Metrics: m.WithCatalogue(tiers), Days: days, Store: env.Project.Type == ProjectStore}, nil
}
