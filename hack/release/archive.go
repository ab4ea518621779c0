package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"time"
)

// archiveTime is every entry's mtime: fixed, so archives are reproducible.
var archiveTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// archiveFile is one file in a release archive.
type archiveFile struct {
	name string // name in the archive
	src  string // file on disk
	mode int64
}

// archiveFiles lists what every archive holds, in archive order: the binary,
// the licence (krew requires one) and the completion script.
func archiveFiles(c Config, t Target) []archiveFile {
	files := []archiveFile{
		{name: "LICENSE", src: filepath.Join(c.RepoRoot, "LICENSE"), mode: 0o644},
		{name: t.exe(), src: binPath(c, t), mode: 0o755},
	}
	if t.OS != "windows" { // a sh script; Windows shells do not run it
		files = append(files, archiveFile{name: completionScript, src: filepath.Join(c.RepoRoot, completionScript), mode: 0o755})
	}
	return files
}

// writeArchive writes t's archive to path and returns its sha256.
func writeArchive(c Config, t Target, path string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if t.OS == "windows" {
		err = writeZip(w, archiveFiles(c, t))
	} else {
		err = writeTarGz(w, archiveFiles(c, t))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeTarGz(w io.Writer, files []archiveFile) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(data)), ModTime: archiveTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeZip(w io.Writer, files []archiveFile) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: archiveTime}
		hdr.SetMode(os.FileMode(f.mode))
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
