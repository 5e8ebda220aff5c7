"""Saving and loading: scvi-tools' files, written atomically and checked before reading."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile

from scvi.model.base._save_load import SAVE_KEYS


class PersistenceMixin:
    """:meth:`save` and :meth:`load` of :class:`~scbasis.model.PseudotimeModel`: scvi-tools'
    own (same files, same arguments), with the files written to a staging folder first and
    then moved into place one by one (each an atomic rename), so that an interrupted or failed
    save leaves the previous files intact; and a load that names a missing or damaged file."""

    def save(
        self,
        dir_path: str,
        prefix: str | None = None,
        overwrite: bool = False,
        save_anndata: bool = False,
        save_kwargs: dict | None = None,
        legacy_mudata_format: bool = False,
        datamodule=None,
        **anndata_write_kwargs,
    ) -> None:
        """Save the model to ``dir_path`` as scvi-tools does (see
        :meth:`scvi.model.base.BaseModelClass.save` for the arguments), atomically per file.

        ``overwrite=False`` refuses an existing ``dir_path`` before anything is written.
        """
        dir_path = os.fspath(dir_path)
        if os.path.exists(dir_path) and not overwrite:
            raise ValueError(
                f"{dir_path} already exists; pass overwrite=True to replace the model saved "
                "there, or choose another directory."
            )
        parent = os.path.dirname(os.path.abspath(dir_path))
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".scbasis-save-", dir=parent)
        try:
            super().save(
                staging,
                prefix=prefix,
                overwrite=True,
                save_anndata=save_anndata,
                save_kwargs=save_kwargs,
                legacy_mudata_format=legacy_mudata_format,
                datamodule=datamodule,
                **anndata_write_kwargs,
            )
            os.makedirs(dir_path, exist_ok=True)
            for name in sorted(os.listdir(staging)):
                os.replace(os.path.join(staging, name), os.path.join(dir_path, name))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def load(cls, dir_path: str, *args, **kwargs):
        """Load a model saved by :meth:`save` (scvi-tools'
        :meth:`~scvi.model.base.BaseModelClass.load`, same arguments), after checking that its
        file is there and whole."""
        if kwargs.get("backup_url") is None:
            check_saved_model(os.fspath(dir_path), kwargs.get("prefix"))
        return super().load(dir_path, *args, **kwargs)


def check_saved_model(dir_path: str, prefix: str | None = None) -> None:
    """Raise a clear error if ``dir_path`` holds no saved model or a damaged one."""
    path = os.path.join(dir_path, f"{prefix or ''}{SAVE_KEYS.MODEL_FNAME}")
    if not os.path.isfile(path):
        found = sorted(os.listdir(dir_path)) if os.path.isdir(dir_path) else None
        where = f"it holds {found}" if found is not None else "the directory does not exist"
        raise FileNotFoundError(
            f"No saved model at {path} ({where}); pass the directory given to save()."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        damaged = str(error)
    if damaged is not None:
        raise ValueError(
            f"{path} is damaged ({damaged}): the save that wrote it did not finish or the file "
            "was changed since. Save the model again."
        )
