# Helpers shared by the TAP tests of the auth extension.
#
# The SQL these tests run carries session tokens and passwords, and those
# must never reach the test output or the server log: psql errors go through
# redact() before anyone prints them, a failing query never echoes its SQL,
# and new_node() keeps statements out of the server log.
package AuthTAP;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(new_node redact query query_error);

# Hide anything that looks like a token, a key, an email code or a password
# hash before printing.  Session, link, verification, reset and invitation
# tokens and API keys are "<prefix>_<43 or more base64url characters>".
sub redact
{
	my ($s) = @_;
	return '' unless defined $s;
	$s =~ s/ses_[A-Za-z0-9_-]{8,}/ses_[redacted]/g;
	$s =~ s/\b([a-z0-9]{1,16})_[A-Za-z0-9_-]{40,}/$1_[redacted]/g;
	$s =~ s/'[0-9]{6}'/'[redacted code]'/g;
	$s =~ s/\$(argon2|2[aby]\$|scrypt)[^\s'"]*/[redacted hash]/g;
	return $s;
}

# Runs $sql through psql on $node; %opt may hold db => 'name' (default
# 'postgres') and role => 'name' (connect with -U role).
sub _psql
{
	my ($node, $sql, %opt) = @_;
	return $node->psql($opt{db} // 'postgres', $sql,
		extra_params => $opt{role} ? [ '-U', $opt{role} ] : []);
}

# Runs SQL that must succeed and returns its output; on failure dies with
# the node's name and psql's redacted stderr, never the SQL (which may hold
# a token or a password).
sub query
{
	my ($node, $sql, %opt) = @_;
	my ($ret, $out, $err) = _psql($node, $sql, %opt);
	die $node->name . ": query failed (exit $ret): " . redact($err) . "\n"
	  if $ret != 0;
	return $out;
}

# Runs SQL expected to fail, in its own connection; returns psql's redacted
# stderr with the SQLSTATE shown, or '' when the SQL succeeded.
sub query_error
{
	my ($node, $sql, %opt) = @_;
	my ($ret, $out, $err) =
	  _psql($node, "\\set VERBOSITY verbose\n$sql", %opt);
	return $ret == 0 ? '' : redact($err);
}

# Creates, initialises (with the hash ref $opt{init} as init's arguments)
# and starts a node.  The framework logs every statement, and a failing one
# even without that; our SQL carries tokens, so statements are kept out of
# the server log (which also lets a test check that the extension itself
# never logs a secret).  $opt{conf} holds further postgresql.conf lines.
sub new_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	$node->append_conf('postgresql.conf',
		($opt{conf} // '') . qq{
log_statement = none
log_min_error_statement = panic
});
	$node->start;
	return $node;
}

1;
