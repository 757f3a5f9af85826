#ifndef CJSONC_SHIM_H
#define CJSONC_SHIM_H

// json-c, an independent JSON parser for the end-to-end tests. Its
// json_object_object_foreach is a macro Swift cannot import: walk objects
// with json_object_iter_* or look keys up with json_object_object_get_ex.
#include <json-c/json.h>

#endif
