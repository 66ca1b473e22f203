// Command tool registers the protocols, as a command may.
package main

import _ "example.com/badmod/protocols"

func main() {}
