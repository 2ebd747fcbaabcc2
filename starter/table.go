package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/rivo/uniseg"
)

// table prints aligned columns by display width, not by bytes or runes,
// so Chinese names (two terminal cells a character) line up with the rest.
type table struct {
	rows [][]string
}

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		// One line per row: a quoted line break in a CSV name stays in the
		// record but not in the table.
		row[i] = strings.Join(strings.Fields(fmt.Sprint(c)), " ")
	}
	t.rows = append(t.rows, row)
}

func (t *table) write(w io.Writer, indent string) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], uniseg.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		var line strings.Builder
		line.WriteString(indent)
		for i, c := range r {
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-uniseg.StringWidth(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
