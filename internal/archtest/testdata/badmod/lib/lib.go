// Package lib is a library that registers every protocol itself.
package lib

import _ "example.com/badmod/protocols"
