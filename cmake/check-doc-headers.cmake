# cmake -DSPT_INCLUDE_DIR=<include dir> -P cmake/check-doc-headers.cmake
# Run by the `docs` target before Doxygen. Doxygen only checks the members of
# documented files: a header without a "/** @file" block would drop out of the
# reference silently instead of failing on its undocumented items. So every
# public header must have one.
if(NOT SPT_INCLUDE_DIR)
  message(FATAL_ERROR "check-doc-headers.cmake: set SPT_INCLUDE_DIR")
endif()
file(GLOB_RECURSE _headers RELATIVE ${SPT_INCLUDE_DIR} ${SPT_INCLUDE_DIR}/*.h)
list(SORT _headers)
set(_missing "")
foreach(_h IN LISTS _headers)
  file(STRINGS ${SPT_INCLUDE_DIR}/${_h} _hits REGEX "^[ \t]*/\\*\\*[ \t]*[@\\\\]file")
  if(NOT _hits)
    list(APPEND _missing ${_h})
  endif()
endforeach()
if(_missing)
  list(JOIN _missing "\n  include/" _list)
  message(FATAL_ERROR "These public headers have no /** @file block (see docs/Doxyfile.in "
    "for the comment style); Doxygen would skip them:\n  include/${_list}")
endif()
