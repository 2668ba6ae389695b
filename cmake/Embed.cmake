# cmake -DOUTPUT=FILE.cc -DHEADER=path/to/header.h -DNAMESPACE=ns -DENTRIES="kName=file;..." -P Embed.cmake
# Writes a source file defining one std::string_view per entry with the file's text, so that
# scripts and templates ship inside the static binary.
set(out "// Generated from ${ENTRIES} by cmake/Embed.cmake; do not edit.\n")
string(APPEND out "#include \"${HEADER}\"\n\nnamespace ${NAMESPACE} {\n\n")
foreach(entry IN LISTS ENTRIES)
  string(REPLACE "=" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 file)
  file(READ "${file}" text)
  string(APPEND out "extern const std::string_view ${name} = R\"k3a_embed(${text})k3a_embed\";\n")
endforeach()
string(APPEND out "\n}  // namespace ${NAMESPACE}\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
