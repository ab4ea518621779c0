package advisory

import (
	"fmt"
	"regexp"
	"strconv"
)

// version is major.minor.patch plus whether a pre-release suffix (-rc.1,
// -beta.0, -alpha.2) makes it sort before the plain release. Other suffixes
// (+k3s1, -eks-abc, ~ds1, -0ubuntu1) are distribution builds of that release.
type version struct {
	major, minor, patch int
	pre                 bool
}

var versionRE = regexp.MustCompile(`^v?(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?(-(?:alpha|beta|rc)[.0-9]*)?(?:$|[^0-9])`)

func parseVersion(s string) (version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("version %q is not of the form [v]X.Y[.Z]", s)
	}
	var v version
	v.major, _ = strconv.Atoi(m[1]) // cannot fail: \d{1,9} fits an int
	v.minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.patch, _ = strconv.Atoi(m[3])
	}
	v.pre = m[4] != ""
	return v, nil
}

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	if v.patch != o.patch {
		return v.patch < o.patch
	}
	return v.pre && !o.pre
}
