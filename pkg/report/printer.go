package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Printer renders a whole report.
type Printer interface {
	PrintReport(w io.Writer, r *Report) error
}

// StreamPrinter can also print rows one by one as nodes finish (a terminal
// watching a long run) and the summary at the end.
type StreamPrinter interface {
	Printer
	// NewStream starts a stream whose columns fit the given node names.
	NewStream(w io.Writer, nodes []string) Stream
}

// Stream prints a header on its first row, then one row per call.
type Stream interface {
	PrintItem(it Item) error
	// Close prints the summary line.
	Close(r *Report) error
}

// Output formats for -o.
const (
	FormatTable    = ""
	FormatWide     = "wide"
	FormatJSON     = "json"
	FormatYAML     = "yaml"
	FormatMarkdown = "markdown"
)

// AllowedFormats lists the -o values; the -o help and completion use it.
func AllowedFormats() []string {
	return []string{FormatWide, FormatJSON, FormatYAML, FormatMarkdown}
}

// NoPrinterError names the formats that exist.
type NoPrinterError struct{ Format string }

func (e *NoPrinterError) Error() string {
	return fmt.Sprintf("unknown output format %q: allowed formats are %s (or none for a table)",
		e.Format, strings.Join(AllowedFormats(), ", "))
}

// ToPrinter returns the printer for -o format ("" is the table).
func ToPrinter(format string) (Printer, error) {
	switch format {
	case FormatTable, "table":
		return &tablePrinter{}, nil
	case FormatWide:
		return &tablePrinter{wide: true}, nil
	case FormatJSON:
		return jsonPrinter{}, nil
	case FormatYAML:
		return yamlPrinter{}, nil
	case FormatMarkdown, "md":
		return markdownPrinter{}, nil
	}
	return nil, &NoPrinterError{Format: format}
}

type jsonPrinter struct{}

func (jsonPrinter) PrintReport(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

type yamlPrinter struct{}

func (yamlPrinter) PrintReport(w io.Writer, r *Report) error {
	b, err := yaml.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode YAML report: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write YAML report: %w", err)
	}
	return nil
}
