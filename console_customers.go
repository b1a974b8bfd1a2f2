package dream

import (
	"context"
	"strings"
	"time"
)

// The console's view of a project's end users and events, for the
// dashboard: each call checks the project is the developer's, then reads
// or acts through the same services as the customer API.

// CustomersPageSize is how many customers a page of the console lists.
const CustomersPageSize = 50

// CustomersPage is a page of an environment's customers.
type CustomersPage struct {
	Customers []Customer
	// Total is how many customers match the search; Offset where the page
	// starts.
	Total  int64
	Offset int
	// Tiers are the environment's catalogue, which decides each customer's
	// plan and limit.
	Tiers []Tier
}

// ConsoleCustomers is what the console reads of end users: the node's copy
// of the database.
type ConsoleCustomers interface {
	CustomersPage(ctx context.Context, envID int64, search string, offset, limit int) ([]Customer, int64, error)
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

// CustomerList returns a page of a project environment's customers, newest
// first, those whose email starts with search or whose id is search.
func (c *Console) CustomerList(ctx context.Context, p *Platform, projectID string, mode Mode, search string, offset int) (*CustomersPage, error) {
	env, err := c.Environment(ctx, p, projectID, mode)
	if err != nil {
		return nil, err
	}
	search = strings.TrimSpace(search)
	if err := CheckLength("search", search, MaxEmail); err != nil {
		return nil, err
	}
	offset = max(0, offset)
	list, total, err := c.EndUsers.CustomersPage(ctx, env.ID, search, offset, CustomersPageSize)
	if err != nil {
		return nil, err
	}
	tiers, err := c.Directory.Tiers(ctx, env.ID)
	if err != nil {
		return nil, err
	}
	return &CustomersPage{Customers: list, Total: total, Offset: offset, Tiers: tiers}, nil
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
