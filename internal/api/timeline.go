package api

import (
	"fmt"
	"math"
	"strings"

	"github.com/kamflow/kamflow/internal/store"
)

// describe turns a timeline row into the line people read. Times stay in
// the item (the console formats them in its time zone); everything else is
// said here once, for the console and the API alike.
func describe(it store.TimelineItem, names map[string]string) TimelineEntry {
	e := TimelineEntry{At: it.At, Type: it.Type, Ref: it.Ref, Item: it}
	who := func(id string) string { return orDefault(names[id], id) }
	switch it.Type {
	case "event":
		e.Title = label(it.Kind)
		switch {
		case it.Kind == "order" && it.Num1 != 0:
			e.Title += " · " + money(it.Num1)
		case it.Kind == "complaint" && it.Level > 0:
			e.Title += fmt.Sprintf(" · severity %d", it.Level)
		case it.NPS != nil:
			e.Title += fmt.Sprintf(" · NPS %d", *it.NPS)
		case it.CSAT != nil:
			e.Title += fmt.Sprintf(" · CSAT %d", *it.CSAT)
		}
		e.Text = it.Detail
		if it.Extra == store.EventRejected {
			e.Title += " (rejected)"
			e.Text = join(" — ", "Not applied: "+it.Title, it.Detail)
		}
	case "stage":
		if it.Title == "" {
			e.Title = "Onboarded into " + label(it.Kind)
		} else {
			e.Title = label(it.Title) + " → " + label(it.Kind)
		}
		e.Text = it.Detail
	case "task":
		e.Title = "New task: " + it.Title
		e.Text = label(it.Kind) + " for " + who(it.Actor)
		if it.Level > 0 {
			e.Text += fmt.Sprintf(" · escalated to level %d", it.Level)
		}
	case "task_done":
		e.Title = "Done: " + it.Title
		e.Text = join(" — ", it.Extra, it.Detail) + " (" + who(it.Actor) + ")"
	case "visit":
		switch it.Kind {
		case "done":
			e.Title = "Visit held"
		case "cancelled":
			e.Title = "Visit cancelled"
		default:
			e.Title = "Visit scheduled"
		}
		e.Title = join(": ", e.Title, it.Title)
		e.Text = "with " + who(it.Actor)
	case "survey":
		e.Title = strings.ToUpper(it.Kind) + " survey sent"
		e.Text = join(" · ", orDefault(it.Detail, "no contact e-mail"), it.Extra)
	case "escalation":
		e.Title = fmt.Sprintf("Escalated (level %d) to %s", it.Level, who(it.Actor))
		e.Text = it.Title
		if it.Until != nil {
			e.Text += " · acknowledged"
		}
	case "score":
		e.Title = fmt.Sprintf("Scored: %s · health %d", label(it.Kind), int(math.Round(it.Num1)))
		e.Text = fmt.Sprintf("value/potential/loyalty %s · churn risk %d%%", it.Title, int(math.Round(it.Num2*100)))
		if it.Detail != "" {
			e.Text += " · " + label(it.Detail)
		}
	default:
		e.Title = it.Type
	}
	return e
}

// join joins the non-empty parts.
func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
