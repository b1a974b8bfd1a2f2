package browser_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// auditScript checks the page in the tab as WCAG AA asks and returns what
// fails: the contrast of each element's own text against the background
// it is painted on (4.5:1, or 3:1 for large text), and a page wider than
// the window, which at 375 px means scrolling sideways.
const auditScript = `(() => {
  const rgba = s => { const m = s.match(/[\d.]+/g) || [0, 0, 0, 0]; return { r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1 }; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c.a > 0) layers.push(c); if (c.a === 1) break; }
    return layers.reverse().reduce((under, top) => over(top, under), { r: 255, g: 255, b: 255, a: 1 });
  };
  const problems = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
    const bg = background(el), fg = over(rgba(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ':1 < ' + need + ' for <' + el.tagName.toLowerCase() + '> "' + el.textContent.trim().slice(0, 40) + '"');
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('the page is ' + document.documentElement.scrollWidth + ' px wide in a ' + window.innerWidth + ' px window');
  return problems;
})()`

// audit fails the test with what the current page, named what, fails of
// auditScript.
func (d *driver) audit(what string) {
	d.t.Helper()
	problems, err := chromedp.Run(d.ctx, chromedp.Evaluate[[]string](auditScript))
	if err != nil {
		d.t.Fatalf("auditing %s: %v", what, err)
	}
	if len(problems) > 0 {
		d.t.Errorf("%s fails WCAG AA or the window's width:\n%s", what, strings.Join(problems, "\n"))
	}
}

// TestBrowser_DashboardAccessible opens each kind of dashboard page at a
// phone's width (375 px) and at a desktop's, and audits each: contrast and
// no sideways scrolling. The developer signs in from the keyboard alone.
func TestBrowser_DashboardAccessible(t *testing.T) {
	browser := chromium(t)
	node := startDevNode(t)
	base := node.base
	// A customer in every demo project, so that each has a customer page.
	for _, sk := range node.sks {
		req, _ := http.NewRequest("POST", base+"/api/customers", strings.NewReader(`{"email":"audited@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+sk)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
			t.Fatalf("creating a customer answered %d", res.StatusCode)
		}
	}
	ctx := newBrowser(t, browser)
	dr := &driver{t: t, ctx: ctx, shots: screenshots(t)}

	// Signed out, then in by keyboard: Tab from the top of the page reaches
	// the email field, and Enter sends the form.
	dr.do("opening the sign-in page", chromedp.Navigate(base+"/dashboard/signin"), chromedp.WaitVisible(chromedp.ID("email")))
	dr.audit("the sign-in page")
	focused := ""
	for i := 0; i < 12 && focused != "email"; i++ {
		dr.do("tabbing", chromedp.KeyEvent("\t"))
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
		if err != nil {
			t.Fatal(err)
		}
		focused = id
	}
	if focused != "email" {
		t.Fatal("Tab never reached the email field")
	}
	dr.do("signing in by keyboard", chromedp.KeyEvent(node.email), chromedp.KeyEvent("\t"), chromedp.KeyEvent(node.password),
		chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(".projects")))

	// Every kind of page, at both widths.
	project, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.projects a').getAttribute('href')`))
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"/dashboard", "/dashboard/billing", project, project + "?mode=live", project + "/catalogue", project + "/customers",
		project + "/metrics", project + "/events", "/admin"}
	for _, width := range []int64{1280, 375} {
		dr.do("resizing", chromedp.EmulateViewport(width, 800))
		for _, p := range pages {
			dr.do("opening "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main")))
			dr.audit(fmt.Sprintf("%s at %d px", p, width))
		}
	}
	dr.do("opening a customer", chromedp.Navigate(base+project+"/customers"), chromedp.WaitVisible(chromedp.CSS("main")))
	dr.do("opening a customer", chromedp.Click(chromedp.CSS("table a")), chromedp.WaitVisible(chromedp.ID("plan")))
	dr.audit("a customer's page at 375 px")
	dr.do("opening the project", chromedp.Navigate(base+project), chromedp.WaitVisible(chromedp.CSS("main")))
	dr.shot("16-phone")
}
