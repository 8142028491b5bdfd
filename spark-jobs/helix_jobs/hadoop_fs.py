"""The few Hadoop FileSystem calls the jobs make, so file:// and s3a:// behave alike."""

from __future__ import annotations

from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession


class FileSystem:
    """One Hadoop FileSystem, reached through the session's JVM."""

    def __init__(self, spark: SparkSession, uri: str) -> None:
        self.jvm: Any = spark.sparkContext._jvm
        self.gateway: Any = spark.sparkContext._gateway
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.fs: Any = self.path(uri).getFileSystem(conf)

    def path(self, uri: str) -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def qualified(self, uri: str) -> Any:
        """The absolute Hadoop path of a URI (``.``/``..`` and trailing slashes resolved)."""
        return self.fs.makeQualified(self.path(uri))

    def kind(self, uri: str) -> str | None:
        """ "file", "dir", or None when nothing is there."""
        try:
            status = self.fs.getFileStatus(self.path(uri))
        except Py4JJavaError as error:
            if _not_found(error):
                return None
            raise
        return "dir" if status.isDirectory() else "file"

    def names(self, folder: str) -> list[str] | None:
        """Names in a folder, or None when it does not exist; a few JVM calls, however many."""
        listed = self.listing(folder)
        return None if listed is None else listed[0]

    def listing(self, folder: str) -> tuple[list[str], set[str]] | None:
        """Names in a folder and those of its zero-length files (which Spark's file sources
        never read), or None when it does not exist; a few JVM calls, however many."""
        path = self.qualified(folder)
        try:
            statuses = self.fs.listStatus(path)
        except Py4JJavaError as error:
            if _not_found(error):
                return None
            raise
        # Copied into a plain FileStatus[]: py4j does not match S3AFileStatus[] to FileStatus[].
        plain = self.gateway.new_array(self.jvm.org.apache.hadoop.fs.FileStatus, len(statuses))
        self.jvm.java.lang.System.arraycopy(statuses, 0, plain, 0, len(statuses))
        names = self._names(path, plain)
        sizes = self._sizes(plain)
        return names, {n for n, size in zip(names, sizes, strict=True) if size == 0}

    def _sizes(self, statuses: Any) -> list[int]:
        """Each status's length (a directory's is 0), in one call: commons-collections4 (on
        Spark's classpath) maps getLen over the array JVM-side and renders "[12, 0, ...]"."""
        jvm, collections = self.jvm, self.jvm.org.apache.commons.collections4
        items = self.gateway.new_array(jvm.java.lang.Object, len(statuses))
        jvm.java.lang.System.arraycopy(statuses, 0, items, 0, len(statuses))
        lengths = collections.CollectionUtils.collect(
            collections.IteratorUtils.arrayIterator(items),
            collections.functors.InvokerTransformer.invokerTransformer("getLen"),
        )
        rendered: str = lengths.toString()
        return [int(x) for x in rendered[1:-1].split(", ")] if len(rendered) > 2 else []

    def _names(self, path: Any, statuses: Any) -> list[str]:
        # py4j would fetch each element separately; render the whole array as "{p1,p2,...}"
        # instead, and split on what every child path starts with (a name may hold a comma).
        paths = self.jvm.org.apache.hadoop.fs.FileUtil.stat2Paths(statuses)
        rendered: str = self.jvm.org.apache.commons.lang3.ArrayUtils.toString(paths)
        lead = path.toString().rstrip("/") + "/"
        body = rendered[1:-1]
        if not body:
            return []
        return [p.removeprefix(lead) for p in ("," + body).split("," + lead)[1:]]

    def read_text(self, uri: str) -> str:
        """A UTF-8 text file's content. py4j hands a Java String over several times faster than
        a byte[] (a 1.4 MB manifest: ~45 against ~120 ms)."""
        stream = self.fs.open(self.path(uri))
        try:
            text: str = self.jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
            return text
        finally:
            stream.close()

    def write_text(self, uri: str, text: str) -> None:
        stream = self.fs.create(self.path(uri), True)
        try:
            stream.write(text.encode())
        finally:
            stream.close()

    def rename(self, source: str, target: str) -> None:
        if not self.fs.rename(self.path(source), self.path(target)):
            raise OSError(f"could not rename {source} to {target}")

    def delete(self, uri: str) -> None:
        self.fs.delete(self.path(uri), True)

    def remove_empty_folders(self, uri: str) -> None:
        """Remove a folder tree that holds no file, deepest folders first; one holding a file
        stays whole. A store with real folders (SeaweedFS) keeps the folders its objects were
        in after they are gone, and S3A will not rename onto such a "non-empty directory"."""
        path = self.path(uri)
        try:
            if self.fs.listFiles(path, True).hasNext():
                return
            children = self.fs.listStatus(path)
        except Py4JJavaError as error:
            if _not_found(error):
                return
            raise
        for child in children:
            if child.isDirectory():
                self.remove_empty_folders(child.getPath().toString())
        self.fs.delete(path, True)


def _not_found(error: Py4JJavaError) -> bool:
    return bool(error.java_exception.getClass().getName() == "java.io.FileNotFoundException")
