# Every dependency comes from Debian packages (scripts/bootstrap.sh); nothing is downloaded here.
# Binaries link statically, so only static archives are searched for.
if(K3A_STATIC)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
  add_link_options(-static)
endif()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

set(OPENSSL_USE_STATIC_LIBS ${K3A_STATIC})
find_package(OpenSSL 3 REQUIRED)

find_package(Boost 1.74 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)

function(k3a_find_lib var name)
  find_library(${var} NAMES ${name} REQUIRED)
endfunction()

k3a_find_lib(ZSTD_LIB zstd)
k3a_find_lib(ARCHIVE_LIB archive)
k3a_find_lib(NETTLE_LIB nettle)
k3a_find_lib(ACL_LIB acl)
k3a_find_lib(LZMA_LIB lzma)
k3a_find_lib(LZ4_LIB lz4)
k3a_find_lib(BZ2_LIB bz2)
k3a_find_lib(Z_LIB z)
k3a_find_lib(YAMLCPP_LIB yaml-cpp)
k3a_find_lib(SQLITE_LIB sqlite3)
k3a_find_lib(PROTOBUF_LIB protobuf)
k3a_find_lib(NGHTTP2_LIB nghttp2)
find_program(PROTOC protoc REQUIRED)

# libarchive is used for the tar format only; its other readers (and their libxml2/ICU needs)
# are never referenced, so the static link does not pull them in.
add_library(dep_archive INTERFACE)
target_link_libraries(dep_archive INTERFACE ${ARCHIVE_LIB} ${NETTLE_LIB} ${ACL_LIB} ${LZMA_LIB}
  ${ZSTD_LIB} ${LZ4_LIB} ${BZ2_LIB} ${Z_LIB})

add_library(dep_zstd INTERFACE)
target_link_libraries(dep_zstd INTERFACE ${ZSTD_LIB})

add_library(dep_zlib INTERFACE)
target_link_libraries(dep_zlib INTERFACE ${Z_LIB})

add_library(dep_sqlite INTERFACE)
target_link_libraries(dep_sqlite INTERFACE ${SQLITE_LIB} ${CMAKE_DL_LIBS} Threads::Threads m)

add_library(dep_protobuf INTERFACE)
target_link_libraries(dep_protobuf INTERFACE ${PROTOBUF_LIB} Threads::Threads)

# HTTP/2 framing for the gRPC client (containerd, CRI).
add_library(dep_nghttp2 INTERFACE)
target_link_libraries(dep_nghttp2 INTERFACE ${NGHTTP2_LIB})
target_compile_definitions(dep_nghttp2 INTERFACE NGHTTP2_STATICLIB)

add_library(dep_yaml INTERFACE)
target_link_libraries(dep_yaml INTERFACE ${YAMLCPP_LIB})

# spdlog and fmt header-only so that nothing needs their shared libraries.
add_library(dep_fmt INTERFACE)
target_compile_definitions(dep_fmt INTERFACE FMT_HEADER_ONLY SPDLOG_HEADER_ONLY SPDLOG_FMT_EXTERNAL)

add_library(dep_beast INTERFACE)
target_link_libraries(dep_beast INTERFACE Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
target_compile_definitions(dep_beast INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
