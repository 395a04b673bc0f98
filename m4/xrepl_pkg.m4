# XREPL_REQUIRE_PKG(VARIABLE-PREFIX, MODULES, DEBIAN-PACKAGES)
# --------------------------------------------------------------
# PKG_CHECK_MODULES that stops configure with the Debian package to install.
AC_DEFUN([XREPL_REQUIRE_PKG], [
	PKG_CHECK_MODULES([$1], [$2], [], [
		AC_MSG_ERROR([pkg-config cannot find $2 ($$1_PKG_ERRORS).
Install the Debian package(s): apt-get install $3])
	])
])
