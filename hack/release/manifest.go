package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// manifestPlatform is one platform entry of the krew manifest.
type manifestPlatform struct {
	OS, Arch, URI, SHA256, Bin string
	Files                      []string
}

// manifestData is what plugins/cadvisor-doctor.yaml is rendered with.
type manifestData struct {
	Version, Homepage, ProbeImage string
	Platforms                     []manifestPlatform
}

// writeManifest renders the krew manifest template into
// Out/cadvisor-doctor.yaml, one platform per archive.
func writeManifest(c Config, sums map[string]string) error {
	tmplPath := filepath.Join(c.RepoRoot, "plugins", pluginName+".yaml")
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return fmt.Errorf("krew manifest template: %w", err)
	}
	tmpl, err := template.New(pluginName).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return fmt.Errorf("krew manifest template %s: %w", tmplPath, err)
	}
	data := manifestData{Version: c.Version, Homepage: "https://" + modulePath, ProbeImage: c.ProbeImage()}
	for _, t := range c.Targets {
		name := t.archiveName(c.Version)
		p := manifestPlatform{OS: t.OS, Arch: t.Arch, URI: strings.TrimSuffix(c.DownloadURL, "/") + "/" + name, SHA256: sums[name], Bin: t.exe()}
		for _, f := range archiveFiles(c, t) {
			p.Files = append(p.Files, f.name)
		}
		data.Platforms = append(data.Platforms, p)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("krew manifest: %w", err)
	}
	// Strip the template's own header comment: it is about the template.
	out := buf.String()
	if i := strings.Index(out, "apiVersion:"); i > 0 {
		out = out[i:]
	}
	return os.WriteFile(filepath.Join(c.Out, pluginName+".yaml"), []byte(out), 0o644)
}
