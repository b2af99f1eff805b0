// Prints the TOTP code an authenticator app would show for the otpauth://
// URI read from standard input (never from the command line, which other
// users see), at the unix time in milliseconds given as the argument.
'use strict';
const OTPAuth = require('otpauth');

let uri = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { uri += chunk; });
process.stdin.on('end', () => {
  const totp = OTPAuth.URI.parse(uri.trim());
  const timestamp = Number(process.argv[2] ?? Date.now());
  process.stdout.write(totp.generate({ timestamp }) + '\n');
});
