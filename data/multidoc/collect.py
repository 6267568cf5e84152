#!/usr/bin/env python3
"""Build docs/ and sources.json for the multidoc corpus.

Prerequisites (see COLLECTION.md): the Debian packages are installed with
apt-get, the PyPI sdists are downloaded to /tmp/pkgs and unpacked in /tmp/pkgs/x,
and libreoffice-writer-nogui + poppler-utils are installed.
Files are copied byte for byte (.gz files are only decompressed).
"""
import gzip, html, json, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
SDIST = "/tmp/pkgs/x"

FAQ = "/usr/share/doc/debian/FAQ"
HB = "/usr/share/doc/debian-handbook/html/en-US"
MG = "/usr/share/doc/maint-guide/html"
HD = "/usr/share/doc/harden-doc/html/en-US"
DR = "/usr/share/developers-reference"
DD = "/usr/share/doc/debian"
POL = "/usr/share/doc/debian-policy"

L_FAQ = "SPI verbatim/modified copying permission notice (see copyright)"
L_HB = "GPL-2.0+ or CC-BY-SA-3.0"
L_DOCDEB_OPL = "OPL-1.0 (www.debian.org docs, see copyright)"
L_DOCDEB_GPL = "GPL (BTS docs, see copyright)"

# id, format, package, registry, source path, licence, title (None = from <title>), kind
D = [
    # ---- HTML ----
    ("debian-faq-basic-defs", "html", "debian-faq", "debian", f"{FAQ}/basic-defs.en.html", L_FAQ, None, "faq"),
    ("debian-faq-choosing", "html", "debian-faq", "debian", f"{FAQ}/choosing.en.html", L_FAQ, None, "faq"),
    ("debian-faq-ftparchives", "html", "debian-faq", "debian", f"{FAQ}/ftparchives.en.html", L_FAQ, None, "faq"),
    ("debian-faq-pkg-basics", "html", "debian-faq", "debian", f"{FAQ}/pkg-basics.en.html", L_FAQ, None, "faq"),
    ("debian-faq-support", "html", "debian-faq", "debian", f"{FAQ}/support.en.html", L_FAQ, None, "faq"),
    ("handbook-debian-project", "html", "debian-handbook", "debian", f"{HB}/the-debian-project.html", L_HB, None, "handbook"),
    ("handbook-foundation-documents", "html", "debian-handbook", "debian", f"{HB}/sect.foundation-documents.html", L_HB, None, "handbook"),
    ("handbook-release-lifecycle", "html", "debian-handbook", "debian", f"{HB}/sect.release-lifecycle.html", L_HB, None, "handbook"),
    ("handbook-becoming-maintainer", "html", "debian-handbook", "debian", f"{HB}/sect.becoming-package-maintainer.html", L_HB, None, "handbook"),
    ("handbook-compromised-machine", "html", "debian-handbook", "debian", f"{HB}/sect.dealing-with-compromised-machine.html", L_HB, None, "handbook"),
    ("maint-guide-start", "html", "maint-guide", "debian", f"{MG}/start.en.html", "GPL-2.0+", None, "guide"),
    ("maint-guide-first", "html", "maint-guide", "debian", f"{MG}/first.en.html", "GPL-2.0+", None, "guide"),
    ("harden-doc-changelog-history", "html", "harden-doc", "debian", f"{HD}/changelog_history.html", "GPL-2.0", None, "changelog"),
    ("harden-doc-faq", "html", "harden-doc", "debian", f"{HD}/ch12.html", "GPL-2.0", None, "faq"),
    ("devref-resources", "html", "developers-reference", "debian", f"{DR}/resources.html", "GPL-2", None, "handbook"),
    ("devref-new-maintainer", "html", "developers-reference", "debian", f"{DR}/new-maintainer.html", "GPL-2", None, "handbook"),
    ("debian-reference-preface", "html", "debian-reference-en", "debian", "/usr/share/debian-reference/pr01.en.html", "GPL-2+", None, "guide"),
    # ---- TXT ----
    ("debian-constitution", "txt", "doc-debian", "debian", f"{DD}/constitution.txt.gz", L_DOCDEB_OPL, "Constitution for the Debian Project (v1.9)", "guide"),
    ("debian-mailing-lists", "txt", "doc-debian", "debian", f"{DD}/mailing-lists.txt.gz", L_DOCDEB_OPL, "Introduction to the Debian mailing lists", "guide"),
    ("debian-bts-maint-info", "txt", "doc-debian", "debian", f"{DD}/bug-maint-info.txt.gz", L_DOCDEB_GPL, "Information regarding the bug processing system for package maintainers and bug triagers", "guide"),
    ("debian-bts-mailcontrol", "txt", "doc-debian", "debian", f"{DD}/bug-maint-mailcontrol.txt.gz", L_DOCDEB_GPL, "Introduction to the bug control and manipulation mailserver", "guide"),
    ("policy-upgrading-checklist", "txt", "debian-policy", "debian", f"{POL}/upgrading-checklist.txt.gz", "GPL-2+", "Upgrading checklist (Debian Policy Manual, chapter 10)", "release-notes"),
    ("policy-copyright-format", "txt", "debian-policy", "debian", f"{POL}/copyright-format-1.0.txt.gz", "preserve-notice", "Machine-readable debian/copyright file, Version 1.0", "guide"),
    ("apt-news-debian", "txt", "apt-doc", "debian", "/usr/share/doc/apt-doc/NEWS.Debian.gz", "GPL-2+", "apt NEWS.Debian", "release-notes"),
    ("openssh-news-debian", "txt", "openssh-client", "debian", "/usr/share/doc/openssh-client/NEWS.Debian.gz", "BSD-2-clause", "openssh NEWS.Debian", "release-notes"),
    ("make-news-debian", "txt", "make", "debian", "/usr/share/doc/make/NEWS.Debian.gz", "GPL-3+", "make-dfsg NEWS.Debian", "release-notes"),
    ("bash-news", "txt", "bash", "debian", "/usr/share/doc/bash/NEWS.gz", "GPL-3+", "Bash NEWS (new features in bash-5.2 and earlier releases)", "release-notes"),
    ("grep-news", "txt", "grep", "debian", "/usr/share/doc/grep/NEWS.gz", "GPL-3+", "GNU grep NEWS", "release-notes"),
    ("gzip-news", "txt", "gzip", "debian", "/usr/share/doc/gzip/NEWS.gz", "GPL-3+", "GNU gzip NEWS", "release-notes"),
    ("tar-news", "txt", "tar", "debian", "/usr/share/doc/tar/NEWS.gz", "GPL-3+", "GNU tar NEWS - User visible changes", "release-notes"),
    ("valgrind-faq", "txt", "valgrind", "debian", "/usr/share/doc/valgrind/FAQ.txt.gz", "GPL-2.0+", "Valgrind FAQ (Release 3.19.0)", "faq"),
    # ---- MD (PyPI sdists) ----
    ("attrs-changelog", "md", "attrs", "pypi", "attrs-26.1.0/CHANGELOG.md", "MIT", "Changelog", "changelog"),
    ("attrs-why", "md", "attrs", "pypi", "attrs-26.1.0/docs/why.md", "MIT", "Why not…", "guide"),
    ("httpx-changelog", "md", "httpx", "pypi", "httpx-0.28.1/CHANGELOG.md", "BSD-3-Clause", "Changelog", "changelog"),
    ("markdown-changelog", "md", "markdown", "pypi", "markdown-3.11.3/docs/changelog.md", "BSD-3-Clause", "Python-Markdown Changelog", "changelog"),
    ("markdown-changelog-legacy", "md", "markdown", "pypi", "markdown-3.11.3/docs/change_log/index.md", "BSD-3-Clause", "Python-Markdown Change Log", "changelog"),
    ("markdown-release-2-6", "md", "markdown", "pypi", "markdown-3.11.3/docs/change_log/release-2.6.md", "BSD-3-Clause", "Python-Markdown 2.6 Release Notes", "release-notes"),
    ("dotenv-changelog", "md", "python-dotenv", "pypi", "python_dotenv-1.2.4/CHANGELOG.md", "BSD-3-Clause", "Changelog", "changelog"),
    ("requests-history", "md", "requests", "pypi", "requests-2.34.2/HISTORY.md", "Apache-2.0", "Release History", "history"),
    ("typing-extensions-changelog", "md", "typing-extensions", "pypi", "typing_extensions-4.16.0/CHANGELOG.md", "PSF-2.0", "typing_extensions changelog (Release 4.16.0 and earlier)", "changelog"),
    ("black-changes", "md", "black", "pypi", "black-26.10.1/CHANGES.md", "MIT", "Change Log", "changelog"),
    ("black-readme", "md", "black", "pypi", "black-26.10.1/README.md", "MIT", "Black: The Uncompromising Code Formatter", "readme"),
    # ---- PDF (converted from plain-text documents with LibreOffice) ----
    ("debian-bts-reporting", "pdf", "doc-debian", "debian", f"{DD}/bug-reporting.txt.gz", L_DOCDEB_GPL, "How to report a bug in Debian using reportbug", "guide"),
    ("apt-users-guide", "pdf", "apt-doc", "debian", "/usr/share/doc/apt-doc/guide.text.gz", "GPL-2+", "APT User's Guide", "guide"),
    ("policy-perl", "pdf", "debian-policy", "debian", f"{POL}/perl-policy.txt.gz", "GPL-2+", "Debian Perl Policy", "guide"),
    ("zlib-faq", "pdf", "zlib1g-dev", "debian", "/usr/share/doc/zlib1g-dev/FAQ.gz", "Zlib", "Frequently Asked Questions about zlib", "faq"),
    ("sed-news", "pdf", "sed", "debian", "/usr/share/doc/sed/NEWS.gz", "GPL-3+", "GNU sed NEWS", "release-notes"),
    ("wget-news", "pdf", "wget", "debian", "/usr/share/doc/wget/NEWS.gz", "GPL-3+ with OpenSSL exception", "GNU Wget NEWS -- history of user-visible changes", "release-notes"),
]

SDIST_VERSIONS = {"attrs": "26.1.0", "httpx": "0.28.1", "markdown": "3.11.3", "python-dotenv": "1.2.4",
                  "requests": "2.34.2", "typing-extensions": "4.16.0", "black": "26.10.1"}
SDIST_FILES = {"attrs": "attrs-26.1.0.tar.gz", "httpx": "httpx-0.28.1.tar.gz", "markdown": "markdown-3.11.3.tar.gz",
               "python-dotenv": "python_dotenv-1.2.4.tar.gz", "requests": "requests-2.34.2.tar.gz",
               "typing-extensions": "typing_extensions-4.16.0.tar.gz", "black": "black-26.10.1.tar.gz"}
PDF_FILTER = 'pdf:writer_pdf_Export'
TXT_INFILTER = 'Text (encoded):UTF8,LF,Liberation Mono,en-US'


def deb_version(pkg):
    return subprocess.check_output(["dpkg-query", "-W", "-f=${Version}", pkg], text=True).strip()


def read_source(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data


def html_title(data):
    m = re.search(rb"<title[^>]*>(.*?)</title>", data, re.S | re.I)
    return html.unescape(re.sub(r"\s+", " ", m.group(1).decode("utf-8"))).strip()


def main():
    if os.path.isdir(DOCS):
        shutil.rmtree(DOCS)
    os.makedirs(DOCS)
    out = []
    tmp = tempfile.mkdtemp(prefix="multidoc-conv-")
    for did, fmt, pkg, reg, src, lic, title, kind in D:
        assert re.match(r"^[a-z0-9][a-z0-9-]*$", did), did
        fname = f"{did}.{fmt}"
        dest = os.path.join(DOCS, fname)
        converted = None
        if reg == "pypi":
            data = read_source(os.path.join(SDIST, src))
            version = SDIST_VERSIONS[pkg]
            orig = f"{SDIST_FILES[pkg]}:{src}"
        else:
            data = read_source(src)
            version = deb_version(pkg)
            orig = src
        if fmt == "pdf":
            txt = os.path.join(tmp, f"{did}.txt")
            with open(txt, "wb") as f:
                f.write(data)
            subprocess.run(["libreoffice", "--headless", f"--infilter={TXT_INFILTER}",
                            "--convert-to", PDF_FILTER, "--outdir", tmp, txt],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
            shutil.copyfile(os.path.join(tmp, f"{did}.pdf"), dest)
            gz = " (gunzipped first)" if src.endswith(".gz") else ""
            converted = (f"plain text {os.path.basename(src)}{gz} converted with "
                         f"'libreoffice --headless --infilter=\"{TXT_INFILTER}\" --convert-to pdf:writer_pdf_Export' "
                         f"(LibreOffice {lo_version()}); the PDFs shipped by debian-faq, debian-reference-en, developers-reference, maint-guide and debian-policy are all over 120 KB")
        else:
            with open(dest, "wb") as f:
                f.write(data)
        if title is None:
            title = html_title(data)
        out.append({"id": did, "file": fname, "format": fmt, "package": pkg, "registry": reg,
                    "version": version, "original_path": orig, "licence": lic, "title": title,
                    "bytes": os.path.getsize(dest), "kind": kind, "converted": converted})
        print(f"{os.path.getsize(dest):>7} {fname}")
    shutil.rmtree(tmp)
    with open(os.path.join(HERE, "sources.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")


_LO = None
def lo_version():
    global _LO
    if _LO is None:
        _LO = subprocess.check_output(["libreoffice", "--version"], text=True).split()[1]
    return _LO


if __name__ == "__main__":
    main()
